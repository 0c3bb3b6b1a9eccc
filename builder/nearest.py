"""NBS2I_RELAX_PINS: each pin moves to the nearest release at or above it that installs on the
build's Python, not to the newest, so a notebook pinned years ago keeps the APIs it was
written against as far as the Python allows (numpy==1.19.0 on Python 3.11 becomes 1.23.2, the
first release with wheels for it; a pin that installs as it is stays as it is). The rest of
the build environment is then taken as of the day the newest of those releases came out (the
era): the notebook's unpinned packages, what they depend on, and IPython, as a Jupyter of that
day had them. pandas beside scikit-learn 1.1.3 is a pandas of 2022, whose API the code of the
pins' time was written for, and matplotlib and IPython's matplotlib-inline come from one year.

uv resolves each relaxed pin on its own, lowest version first (`--resolution lowest-direct`),
from wheels only (`--only-binary`): an old source release would otherwise be chosen and then
fail to compile. A package with no wheels at all (an old pure-Python one) may build from
source. Then all of them together, each at least its own nearest, as of the era, so that
they fit one another. When the nearest releases do not install together, the pins become lower bounds,
still taken as of the era; then lower bounds alone (environments.build_environment).
Release days come from the index's JSON API (PEP 691, upload-time of PEP 700); an index that
does not give them (a local folder) leaves the era unknown and the unpinned packages newest.
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from nbs2i_service.config import Config
from packaging.requirements import Requirement as Pep508
from packaging.specifiers import SpecifierSet
from packaging.utils import (InvalidSdistFilename, InvalidWheelFilename, canonicalize_name, parse_sdist_filename,
                             parse_wheel_filename)
from packaging.version import InvalidVersion, Version

from . import specifiers, venv
from .errors import InstallError
from .requirements import Requirement
from .specifiers import Relaxed

# uv's words for "this package has no wheel": then the lowest release may come from source
_NO_WHEELS = re.compile(r"Wheels are required for `[^`]+`|has no usable wheels")
_PINNED = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")
PYPI = "https://pypi.org/simple"
INDEX_TIMEOUT_S = 20


@dataclass
class Asked:
    """What the build environment gets: the requirements and the pins relaxed; with NBS2I_RELAX_PINS,
    also their lower-bound form, for when the nearest releases do not install beside the rest, and
    the era the rest is taken as of."""
    requirements: list[Requirement]
    relaxed: list[Relaxed]
    floors: list[Requirement] | None = None
    floors_relaxed: list[Relaxed] | None = None
    era: str | None = None


def relax(requirements: list[Requirement], config: Config) -> Asked:
    """NBS2I_RELAX_PINS: every pin its nearest installable release (else a lower bound), the era found.
    A pin whose release was published without any wheel (an old pure-Python thrift) is its own
    nearest release, from source: its first wheel came years later and must not drag the era there."""
    floors, floors_relaxed = specifiers.relax(requirements)
    closest = versions(floors, floors_relaxed, config)
    era_day = era(closest, config)
    closest = together(floors, closest, era_day, config) or closest
    reqs, relaxed = apply(floors, floors_relaxed, closest)
    for r in relaxed:
        if not unchanged(r):
            why = "the nearest release that installs on the build's Python" if r.relaxed.startswith("==") \
                else "a lower bound"
            _log(f"NBS2I_RELAX_PINS: {r.name}{r.pinned} ({r.origin}) installed as {r.name}{r.relaxed}, {why}")
    kept = [f"{r.name}{r.pinned}" for r in relaxed if unchanged(r)]
    if kept:
        _log(f"NBS2I_RELAX_PINS: these pins install as they are and stay: {', '.join(kept)}")
    if era_day:
        _log(f"NBS2I_RELAX_PINS: the newest of those releases came out before {era_day}; the rest of the build "
             "environment (unpinned packages, what they depend on, IPython) is taken as of then too, as a Jupyter of "
             "that day had it, to fit the code the pins were written for")
    return Asked(reqs, relaxed, floors, floors_relaxed, era_day) if closest else Asked(reqs, relaxed)


def _log(message: str) -> None:
    print(f"---> {message}", file=sys.stderr, flush=True)


def versions(requirements: list[Requirement], relaxed: list[Relaxed], config: Config) -> dict[str, str]:
    """Canonical name -> the nearest installable version of each relaxed package whose marker holds
    here; empty when uv is not the installer. Each is resolved on its own, so what the others
    depend on never pushes it up; build_environment() installs them together."""
    names = {r.name for r in relaxed}
    lines = {r.name: r.text for r in requirements if r.name in names and not r.url}
    floors = {r.name: r.relaxed[2:] for r in relaxed if r.relaxed.startswith(">=")}
    if not lines or venv.installer(config) != "uv":
        return {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = dict(zip(lines, pool.map(lambda name: _nearest(name, lines[name], config, floors.get(name)), lines)))
    return {name: version for name, version in found.items() if version}


def together(requirements: list[Requirement], found: dict[str, str], day: str | None,
             config: Config) -> dict[str, str]:
    """The nearest releases made to fit one another: resolved together, each at least its own
    nearest, lowest first, as of the era (scikit-learn 1.1.3 needs joblib>=1.0, though joblib
    0.15.1 alone installs). Empty when uv finds no such set."""
    lines = [f"{canonicalize_name(Pep508(r.text).name)}>={found[r.name]}" + _marker(r) for r in requirements
             if r.name in found and not r.url]
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    options = ["--exclude-newer", day] if day else []
    for name in found if day else ():  # each relaxed pin keeps its nearest release, however new
        options += ["--exclude-newer-package", f"{name}={tomorrow}"]
    resolved, _ = _compile(lines, config, options)
    return {name: version for name, version in (resolved or {}).items() if name in found}


def _marker(req: Requirement) -> str:
    marker = Pep508(req.text).marker
    return f"; {marker}" if marker else ""


def _nearest(name: str, line: str, config: Config, pinned: str | None = None) -> str | None:
    """The lowest version of line's package that uv would install here: from a wheel, else (a
    package with no wheels at all, an old pure-Python one) from source. A pinned release published
    without any wheel, for any Python, is taken from source first: it was pure Python."""
    if pinned and _without_wheels(name, pinned, config):
        found, _ = _compile([line], config, [])
        if found and found.get(name):
            return found[name]
    for wheels_only in (True, False):
        found, error = _compile([line], config, ["--only-binary", name] if wheels_only else [])
        if found is not None:
            return found.get(name)
        if not _NO_WHEELS.search(error):
            return None
    return None


def _compile(lines: list[str], config: Config, options: list[str]) -> tuple[dict[str, str] | None, str]:
    """uv's lowest resolution of lines for the build's Python: (canonical name -> version, or None
    when it finds none; its error output)."""
    cmd = ["uv", "pip", "compile", "-", "--python", venv.base_python(config), "--resolution", "lowest-direct",
           "--no-header", "--no-annotate", *venv.uv_options(config), *options]
    result = subprocess.run(cmd, input="\n".join(lines) + "\n", capture_output=True, text=True,
                            env=venv.process_env(config))
    if result.returncode != 0:
        return None, result.stderr
    pinned = (_PINNED.match(text.strip()) for text in result.stdout.splitlines())
    return {canonicalize_name(m.group(1)): m.group(2) for m in pinned if m}, ""


def unchanged(relaxed: Relaxed) -> bool:
    """The pin installs as it is: its nearest release is the pinned one."""
    try:
        return all(t.startswith("==") for t in (relaxed.pinned, relaxed.relaxed)) and \
            Version(relaxed.pinned[2:]) == Version(relaxed.relaxed[2:])
    except InvalidVersion:  # ==1.2.*
        return False


def apply(requirements: list[Requirement], relaxed: list[Relaxed],
          found: dict[str, str]) -> tuple[list[Requirement], list[Relaxed]]:
    """The requirements with each relaxed package pinned to its nearest version (markers and extras kept)."""
    out = []
    for req in requirements:
        if req.name not in found or req.url:
            out.append(req)
            continue
        parsed = Pep508(req.text)
        parsed.specifier = SpecifierSet(f"=={found[req.name]}")
        out.append(replace(req, text=str(parsed)))
    return out, [replace(r, relaxed=f"=={found[r.name]}") if r.name in found else r for r in relaxed]


def era(found: dict[str, str], config: Config) -> str | None:
    """The day after the newest of the found releases came out (YYYY-MM-DD, for uv's
    --exclude-newer), or None when the index does not say when one of them did."""
    index = (config.index_url or PYPI).rstrip("/")
    if not found or not index.startswith(("https://", "http://")):
        return None
    with ThreadPoolExecutor(max_workers=8) as pool:
        days = list(pool.map(lambda item: _released(index, *item), found.items()))
    if None in days:
        return None
    return (max(days) + dt.timedelta(days=1)).isoformat()


def _without_wheels(name: str, version: str, config: Config) -> bool:
    """name==version has files on the index, and none of them a wheel."""
    index = (config.index_url or PYPI).rstrip("/")
    if not index.startswith(("https://", "http://")):
        return False
    wanted = Version(version)
    files = [f.get("filename", "") for f in _files(index, name) if _version(f.get("filename", "")) == wanted]
    return bool(files) and not any(f.endswith(".whl") for f in files)


def released_day(name: str, version: str, config: Config) -> dt.date | None:
    """The day name==version came out on the build's index (None when it does not say)."""
    index = (config.index_url or PYPI).rstrip("/")
    return _released_cached(index, canonicalize_name(name), version) if index.startswith(("https://", "http://")) else None


@functools.lru_cache(maxsize=256)
def _released_cached(index: str, name: str, version: str) -> dt.date | None:
    return _released(index, name, version)


def _files(index: str, name: str) -> list[dict]:
    """The files the index's JSON API (PEP 691) lists for a project ([] when it does not answer)."""
    request = urllib.request.Request(f"{index}/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    try:
        with urllib.request.urlopen(request, timeout=INDEX_TIMEOUT_S) as answer:
            return json.load(answer).get("files", [])
    except (OSError, ValueError, urllib.error.URLError):
        return []


def _released(index: str, name: str, version: str) -> dt.date | None:
    """The day the first file of name==version was uploaded to index, if its JSON API says."""
    files = _files(index, name)
    wanted = Version(version)
    times = [f["upload-time"] for f in files if f.get("upload-time") and _version(f.get("filename", "")) == wanted]
    return dt.date.fromisoformat(min(times)[:10]) if times else None


def _version(filename: str) -> Version | None:
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[1]
        if filename.endswith((".tar.gz", ".zip")):
            return parse_sdist_filename(filename)[1]
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        pass
    return None


def importable(env: Path, relaxed: list[Relaxed], config: Config) -> list[tuple[str, str, str, str]]:
    """NBS2I_RELAX_PINS: a pin that installs but does not import on the build's Python (a pure-Python
    boto3 of 2019 imports collections.Mapping, gone since 3.10) moves on to the nearest release
    that imports, found by halving the releases after it. [(name, from, to, the error)] of those moved."""
    moved = []
    for r in relaxed:
        version = r.relaxed[2:] if r.relaxed.startswith("==") else None
        error = _import_error(env, r.name) if version else None
        if error is None:
            continue
        later = sorted(v for v in _releases(r.name, config) if v > Version(version) and not v.is_prerelease)
        low, high, found = 0, len(later) - 1, None
        while low <= high:
            middle = (low + high) // 2
            if _installs_and_imports(env, r.name, str(later[middle]), config):
                found, high = str(later[middle]), middle - 1
            else:
                low = middle + 1
        chosen = found or version  # none imports: the pin stays, as it was
        _settle(env, r.name, chosen, config)
        if found is not None:
            moved.append((r.name, version, found, error))
    return moved


def _settle(env: Path, name: str, version: str, config: Config) -> None:
    """name==version installed in env after the search's trials, checked: a failed install would leave
    the last trial's release behind, which the served environment, pinned to version, would not have."""
    for _ in range(2):  # once more after a failure: the index or its cache may have failed once
        installed = _installed(env, name) if _install_quietly(env, f"{name}=={version}", config) else None
        if installed is not None and Version(installed) == Version(version):
            return
    raise InstallError(f"NBS2I_RELAX_PINS: {name}=={version} was chosen for the build environment, but "
                       f"installing it again after trying other releases failed ({name} "
                       f"{_installed(env, name) or 'not installed'} is there). Retry the build, or pin "
                       f"{name}=={version} in the notebook's requirements.")


def _installed(env: Path, name: str) -> str | None:
    code = "import importlib.metadata as m, sys\ntry:\n    print(m.version(sys.argv[1]))\nexcept m.PackageNotFoundError:\n    pass\n"
    out = subprocess.run([str(venv.python_of(env)), "-c", code, name], capture_output=True, text=True, cwd="/",
                         env=venv.build_process_env(env))
    return out.stdout.strip() or None


def _import_error(env: Path, name: str) -> str | None:
    """The error importing distribution name's top-level modules in env raises, or None."""
    code = ("import importlib, importlib.metadata as m, sys, warnings\n"
            "warnings.simplefilter('ignore')\n"
            "tops = [t for t, ds in m.packages_distributions().items() if sys.argv[1] in {d.lower() for d in ds}]\n"
            "try:\n    [importlib.import_module(t) for t in tops if not t.startswith('_')]\n"
            "except Exception as exc:\n    print(f'{type(exc).__name__}: {exc}')\n")
    # -B: a trial writes no bytecode. The build environment keeps bytecode in its own folder
    # (venv.build_process_env), which an install of another release does not clear; a trial's
    # __init__ of the same size and second (boto3 1.10.2 beside 1.10.0) would then be what the
    # notebook imports, while the served environment has the release chosen.
    out = subprocess.run([str(venv.python_of(env)), "-B", "-c", code, name.lower()], capture_output=True, text=True,
                         cwd="/", env=venv.build_process_env(env))
    return out.stdout.strip() or None


def _installs_and_imports(env: Path, name: str, version: str, config: Config) -> bool:
    return _install_quietly(env, f"{name}=={version}", config) and _import_error(env, name) is None


def _install_quietly(env: Path, spec: str, config: Config) -> bool:
    cmd = ["uv", "pip", "install", "--quiet", "--python", str(venv.python_of(env)), *venv.uv_options(config), spec]
    return subprocess.run(cmd, capture_output=True, env=venv.process_env(config)).returncode == 0


def _releases(name: str, config: Config) -> list[Version]:
    """Every version the index has files of."""
    files = _files((config.index_url or PYPI).rstrip("/"), name)
    return sorted({v for v in (_version(f.get("filename", "")) for f in files) if v is not None})
