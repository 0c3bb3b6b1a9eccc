"""Virtualenvs, created with uv when present (far faster), else venv + pip.

Index settings (PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS, PIP_CERT) reach
whichever installer runs. What goes into which environment is environments.py's choice.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from nbs2i_service.config import Config

from .errors import InstallError, RequirementsError
from . import specifiers
from .requirements import Requirement

OUTPUT_TAIL_LINES = 25
# Installer summary lines worth keeping in the build log (uv's, then pip's).
_SUMMARY = ("Resolved ", "Prepared ", "Installed ", "Successfully installed ")
_ERROR_MARKS = ("error:", "ERROR:", "×", "╰─▶", "hint:", "cause:", "Because", "And because")


def installer(config: Config) -> str:
    """'uv' or 'pip', as NBS2I_INSTALLER says (auto: uv when it is on PATH)."""
    if config.installer == "auto":
        return "uv" if shutil.which("uv") else "pip"
    if config.installer == "uv" and not shutil.which("uv"):
        raise RequirementsError("NBS2I_INSTALLER=uv but uv is not on PATH. Install it (pip install uv) or use pip.")
    return config.installer


def python_of(venv: Path) -> Path:
    return venv / "bin" / "python"


def _env(config: Config) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the venv must see only what was installed into it
    if config.cert_file:
        env.setdefault("SSL_CERT_FILE", config.cert_file)  # uv reads this; pip reads PIP_CERT
    # Without a CA file, uv trusts only its own bundled roots; the system's store is what
    # pip and the user's proxies rely on (UV_SYSTEM_CERTS: uv >= 0.11's name for it).
    if "UV_NATIVE_TLS" not in env:
        env.setdefault("UV_SYSTEM_CERTS", "1")
    return env


def create(venv: Path, config: Config, seed: bool = False, relocatable: bool = False) -> None:
    """Create a fresh venv at venv.

    seed: put pip in it too (uv's venvs have none), so the notebook's `!pip list` sees it.
    relocatable: its scripts find their Python relative to themselves (uv), so OUT can move.
    """
    base = config.python or getattr(sys, "_base_executable", sys.executable)
    if venv.exists():
        shutil.rmtree(venv)
    if installer(config) == "uv":
        cmd = ["uv", "venv", "--quiet", "--python", base, str(venv)] + (["--seed"] if seed else [])
        cmd += ["--relocatable"] if relocatable else []
        if config.cache_dir:
            cmd += ["--cache-dir", str(config.cache_dir)]
    else:
        cmd = [base, "-m", "venv", str(venv)]
    _run(cmd, config, "creating the virtualenv " + str(venv))


def install(venv: Path, specs: list[str], config: Config, requirements: list[Requirement], what: str,
            constraints: Path | None = None) -> None:
    """Install specs into venv (`what` says what, in the log); requirements, the notebook's, are named
    when the install fails; constraints pins versions."""
    if installer(config) == "uv":
        cmd = ["uv", "pip", "install", "--python", str(python_of(venv))]
        if config.cache_dir:
            cmd += ["--cache-dir", str(config.cache_dir)]
        if config.index_url:
            cmd += ["--index-url", config.index_url]
        for url in config.extra_index_urls:
            cmd += ["--extra-index-url", url]
        for link in config.find_links:
            cmd += ["--find-links", link]
        # PyPI first, then the extra indexes: pip's behaviour, which users' settings assume
        cmd += ["--index-strategy", "unsafe-best-match"]
    else:
        cmd = [str(python_of(venv)), "-m", "pip", "install", "--disable-pip-version-check"]
        if config.cache_dir:
            cmd += ["--cache-dir", str(config.cache_dir)]
    if constraints is not None:
        cmd += ["--constraint", str(constraints)]
    started = time.monotonic()
    _run(cmd + specs, config, f"installing {what}", requirements)
    print(f"---> installed in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)


def _run(cmd: list[str], config: Config, what: str, requirements: list[Requirement] | None = None) -> None:
    print(f"---> {what}", file=sys.stderr, flush=True)
    result = subprocess.run(cmd, env=_env(config), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0 and cmd[:3] == ["uv", "pip", "install"] and "No solution found" in result.stdout:
        # Cached index data can lag a release the other environment already resolved: ask again.
        print("---> uv found no solution; asking once more without cached index data (uv --refresh), "
              "in case the cache lags the index", file=sys.stderr)
        cmd = cmd[:3] + ["--refresh"] + cmd[3:]
        result = subprocess.run(cmd, env=_env(config), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode == 0:
        for line in result.stdout.splitlines():
            if line.startswith(_SUMMARY):  # e.g. "Prepared 3 packages": what was not in the cache
                print(f"     {line.strip()}", file=sys.stderr)
        return
    lines = _error_lines(result.stdout) or result.stdout.strip().splitlines()[-OUTPUT_TAIL_LINES:]
    message = f"{Path(cmd[0]).name} failed {what} (exit {result.returncode}):\n" + "\n".join("    " + line for line in lines)
    if requirements is None:
        raise RequirementsError(message)
    failing = _named_in_errors(result.stdout, requirements)
    origins = "; ".join(f"{r.text} ({r.origin})" for r in requirements)
    raise InstallError(message + _pin_hint(failing, cmd) + (
        f"\n  The notebook asked for: {origins or 'nothing'}.\n"
        "  Fix the name or version the installer names above, or point PIP_INDEX_URL / "
        "PIP_EXTRA_INDEX_URL / PIP_FIND_LINKS at an index that has it."), failing)


def _error_lines(output: str) -> list[str]:
    """The installer's own lines that say what failed (uv's `error:`/`×`/`╰─▶`, pip's `ERROR:`),
    not a fixed-length tail that may cut them off."""
    keep = [line.rstrip() for line in output.splitlines()
            if line.strip().startswith(_ERROR_MARKS) or "Failed to build" in line or "Failed to download" in line]
    return keep[:OUTPUT_TAIL_LINES]


def _named_in_errors(output: str, requirements: list[Requirement]) -> list[Requirement]:
    """The requirements the installer's error lines name."""
    failing = "\n".join(_error_lines(output)).lower().replace("_", "-")
    return [r for r in requirements if not r.url and r.name in failing]


def _pin_hint(failing: list[Requirement], cmd: list[str]) -> str:
    """Pins among the requirements the installer's error names: they may predate the build's Python."""
    pinned = [r for r in failing if specifiers.has_pin(r.text)]
    if not pinned:
        return ""
    python = Path(cmd[cmd.index("--python") + 1]) if "--python" in cmd else Path(cmd[0])
    version = subprocess.run([str(python), "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True).stdout.strip() or "the build's Python"
    names = ", ".join(f"{r.text} ({r.origin})" for r in pinned)
    return (f"\n  {names}: pinned, and the installer could not install that on Python {version}, the "
            "build's Python. Versions older than the Python often have no wheel for it and fail to compile. "
            "Relax the pin (a lower bound such as >=, or no version), or set NBS2I_RELAX_PINS=1 (--relax-pins) "
            "to install every pin (==, ~=) as a lower bound; metadata.json then records what was pinned and what "
            "was installed.")


def describe(venv: Path) -> tuple[str, list[str]]:
    """The venv's Python version and installed distributions (name==version), installer-agnostic."""
    code = ("import importlib.metadata as m, platform;"
            "print(platform.python_version());"
            "print('\\n'.join(sorted({d.metadata['Name'] + '==' + d.version for d in m.distributions()},"
            " key=str.lower)))")
    out = subprocess.run([str(python_of(venv)), "-c", code], capture_output=True, text=True, check=True,
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, cwd="/")
    version, *packages = [line for line in out.stdout.splitlines() if line]
    return version, packages


def link_service(venv: Path, service_dir: Path) -> None:
    """Make service_dir importable in the venv (nbs2i_service), so load_model works there too.
    The .pth line is relative to site-packages (site.py joins it there): a moved OUT still
    imports its own service, and so loads its own model."""
    code = "import sysconfig; print(sysconfig.get_path('purelib'))"
    out = subprocess.run([str(python_of(venv)), "-c", code], capture_output=True, text=True, check=True, cwd="/")
    site_packages = Path(out.stdout.strip())
    (site_packages / "nbs2i-service.pth").write_text(os.path.relpath(service_dir.resolve(), site_packages) + "\n")
