"""Virtualenvs, created with uv when present (far faster), else venv + pip.

Index settings (PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS, PIP_CERT) reach
whichever installer runs. What goes into which environment is environments.py's choice.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from packaging.requirements import Requirement as Pep508
from packaging.utils import canonicalize_name

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


def build_process_env(env_root: Path) -> dict[str, str]:
    """What a process of the build environment runs with (the notebook's, the probe's): this
    process's variables less PYTHONPATH/PYTHONHOME, and bytecode written into the environment's
    own cache folder (PYTHONPYCACHEPREFIX), never beside the user's files, so a kept environment
    (reuse.py) imports its packages compiled, even where PYTHONDONTWRITEBYTECODE is set."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONDONTWRITEBYTECODE")}
    env["PYTHONPYCACHEPREFIX"] = str(env_root / "nbs2i-bytecode")
    return env


def process_env(config: Config) -> dict[str, str]:
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
    base = base_python(config)
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


def uv_options(config: Config) -> list[str]:
    """uv's options for the build's package cache and indexes (pip's settings, passed on)."""
    options = ["--cache-dir", str(config.cache_dir)] if config.cache_dir else []
    if config.index_url:
        options += ["--index-url", config.index_url]
    for url in config.extra_index_urls:
        options += ["--extra-index-url", url]
    for link in config.find_links:
        options += ["--find-links", link]
    # PyPI first, then the extra indexes: pip's behaviour, which users' settings assume
    return options + ["--index-strategy", "unsafe-best-match"]


def base_python(config: Config) -> str:
    """The interpreter both environments are made from."""
    return config.python or getattr(sys, "_base_executable", sys.executable)


def install(venv: Path, specs: list[str], config: Config, requirements: list[Requirement], what: str,
            constraints: Path | None = None, ours: Sequence[str] = (), as_of: str | None = None,
            exempt: dict[str, str] | None = None) -> None:
    """Install specs into venv (`what` says what, in the log); requirements, the notebook's, are named
    when the install fails; constraints pins versions; ours: nbs2i's own specs among specs, named
    when the notebook's pins cannot meet them; as_of: a day (YYYY-MM-DD), releases uploaded before
    it only (uv's --exclude-newer: the notebook's era); exempt: packages taken as of their own day
    (a pin keeps its version whatever the era; an era's seeds come from it even when the rest does not)."""
    if installer(config) == "uv":
        cmd = ["uv", "pip", "install", "--python", str(python_of(venv))] + uv_options(config)
        cmd += ["--exclude-newer", as_of] if as_of else []
        for name, day in sorted((exempt or {}).items()):
            cmd += ["--exclude-newer-package", f"{name}={day}"]
    else:
        cmd = [str(python_of(venv)), "-m", "pip", "install", "--disable-pip-version-check"]
        if config.cache_dir:
            cmd += ["--cache-dir", str(config.cache_dir)]
    if constraints is not None:
        cmd += ["--constraint", str(constraints)]
    started = time.monotonic()
    _run(cmd + specs, config, f"installing {what}", requirements, ours)
    print(f"---> installed in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)


def _run(cmd: list[str], config: Config, what: str, requirements: list[Requirement] | None = None,
         ours: Sequence[str] = ()) -> None:
    print(f"---> {what}", file=sys.stderr, flush=True)
    result = subprocess.run(cmd, env=process_env(config), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0 and cmd[:3] == ["uv", "pip", "install"] and "No solution found" in result.stdout:
        # Cached index data can lag a release the other environment already resolved: ask again.
        print("---> uv found no solution; asking once more without cached index data (uv --refresh), "
              "in case the cache lags the index", file=sys.stderr)
        cmd = cmd[:3] + ["--refresh"] + cmd[3:]
        result = subprocess.run(cmd, env=process_env(config), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
    clashes = _ours_named(result.stdout, ours)
    if clashes:
        message += _clash_hint(clashes, failing)
        failing = [r for r in failing if r.name not in clashes]
    origins = "; ".join(f"{r.text} ({r.origin})" for r in requirements)
    raise InstallError(message + _pin_hint(failing, cmd, "No solution found" in result.stdout) + (
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


def _ours_named(output: str, ours: Sequence[str]) -> dict[str, str]:
    """nbs2i's own specs (canonical name -> spec) that the installer's error lines name."""
    failing = "\n".join(_error_lines(output)).lower().replace("_", "-")
    named = {}
    for spec in ours:
        name = canonicalize_name(Pep508(spec).name)
        if re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", failing):
            named[name] = spec
    return named


def _clash_hint(clashes: dict[str, str], failing: list[Requirement]) -> str:
    """The notebook's pins that cannot meet what nbs2i itself installs beside them."""
    lines = []
    for name, spec in clashes.items():
        theirs = [f"{r.text} ({r.origin})" for r in failing if r.name == name]
        lines.append(f"\n  {spec} is nbs2i's own requirement (what runs the notebook or serves the model), and "
                     + (f"{' and '.join(theirs)} cannot meet it." if theirs else
                        "the versions the notebook's requirements lead to cannot meet it."))
    return "".join(lines) + ("\n  Loosen the notebook's pin to a range that admits nbs2i's, or set NBS2I_RELAX_PINS=1 "
                             "(--relax-pins) to install every pin as its nearest release and the rest as of their "
                             "day.")


def _pin_hint(failing: list[Requirement], cmd: list[str], unresolvable: bool) -> str:
    """Pins among the requirements the installer's error names: they may predate the build's Python
    (no wheel, and the source fails to compile), or meet no version of what else is asked for."""
    pinned = [r for r in failing if specifiers.has_pin(r.text)]
    if not pinned:
        return ""
    python = Path(cmd[cmd.index("--python") + 1]) if "--python" in cmd else Path(cmd[0])
    names = ", ".join(f"{r.text} ({r.origin})" for r in pinned)
    why = ("no set of versions meets every pin beside what else is asked for" if unresolvable else
           "the installer could not install that: versions older than the Python often have no wheel for it "
           "and fail to compile")
    return (f"\n  {names}: pinned, and on Python {python_version(python)}, the build's Python, {why}. "
            "Relax the pin (a lower bound such as >=, or no version), or set NBS2I_RELAX_PINS=1 (--relax-pins) "
            "to install every pin (==, ~=) as the nearest release that installs on this Python; metadata.json "
            "then records what was pinned and what was installed.")


def python_version(python: Path | str) -> str:
    """X.Y.Z of an interpreter (a venv's or the base one)."""
    out = subprocess.run([str(python), "-c", "import platform; print(platform.python_version())"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "the build's Python"


# Run in the environment itself: what importlib.metadata sees there (the first of a name on sys.path
# wins, as it does for an import), with what a bill of materials needs of each (builder/sbom.py).
_DISTRIBUTIONS = r"""
import hashlib, importlib.metadata as m, json, platform
found = {}
for dist in m.distributions():
    name = dist.metadata["Name"]
    if not name or name.lower() in found:
        continue
    record = dist.read_text("RECORD") or ""
    text = (dist.metadata.get("License") or "").strip()
    classifiers = [c.split(" :: ")[-1] for c in dist.metadata.get_all("Classifier") or [] if c.startswith("License ::")]
    found[name.lower()] = {"name": name, "version": dist.version,
                           "expression": dist.metadata.get("License-Expression") or "",
                           "license": text if text and len(text) <= 80 and "\n" not in text else "",
                           "classifiers": classifiers, "record_sha256": hashlib.sha256(record.encode()).hexdigest()}
print(json.dumps([platform.python_version(), sorted(found.values(), key=lambda d: d["name"].lower())]))
"""


def distributions(venv: Path) -> tuple[str, list[dict]]:
    """The venv's Python version and every distribution installed in it, as its own Python sees them:
    name, version, licence fields and the SHA-256 of its RECORD (which lists every installed file's hash)."""
    out = subprocess.run([str(python_of(venv)), "-c", _DISTRIBUTIONS], capture_output=True, text=True, check=True,
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, cwd="/")
    version, found = json.loads(out.stdout)
    return version, found


def describe(venv: Path) -> tuple[str, list[str]]:
    """The venv's Python version and installed distributions (name==version), installer-agnostic."""
    version, found = distributions(venv)
    return version, listing(found)


def listing(found: list[dict]) -> list[str]:
    """name==version of each distribution of distributions()."""
    return [f"{d['name']}=={d['version']}" for d in found]


def missing_modules(venv: Path, modules: list[str], cwd: Path) -> list[str]:
    """The top-level modules of `modules` that the venv's Python, started in cwd, cannot find
    (found without importing them: importlib's find_spec)."""
    code = ("import importlib.util, json, sys; "
            "print(json.dumps([m for m in json.loads(sys.argv[1]) if importlib.util.find_spec(m) is None]))")
    out = subprocess.run([str(python_of(venv)), "-c", code, json.dumps(modules)], capture_output=True, text=True,
                         check=True, cwd=cwd, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    return json.loads(out.stdout)


def link_service(venv: Path, service_dir: Path) -> None:
    """Make service_dir importable in the venv (nbs2i_service), so load_model works there too.
    The .pth line is relative to site-packages (site.py joins it there): a moved OUT still
    imports its own service, and so loads its own model."""
    code = "import sysconfig; print(sysconfig.get_path('purelib'))"
    out = subprocess.run([str(python_of(venv)), "-c", code], capture_output=True, text=True, check=True, cwd="/")
    site_packages = Path(out.stdout.strip())
    (site_packages / "nbs2i-service.pth").write_text(os.path.relpath(service_dir.resolve(), site_packages) + "\n")
