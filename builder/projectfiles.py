"""The repository's own dependency files, as the tools that write them mean them.

A lock file pins every version (Pipfile.lock, pylock.toml, uv.lock: the first found, in
that order); without one, Pipfile, pyproject.toml ([project] dependencies) and conda's
environment.yml declare requirements (environment.yml only when no requirements.txt is beside
it: the two then describe one environment, for conda and for pip). requirements.txt is read by
reqfile.py. All are looked for in one folder: the notebook's, else SOURCE's root.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import reqfile
from .errors import RequirementsError
from .requirements import PEP508_FORMS, PIP_FORMS, Requirement, make

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the images run 3.11
    import tomli as tomllib

LOCKS = ("Pipfile.lock", "pylock.toml", "uv.lock")
DECLARING = ("Pipfile", "pyproject.toml", "environment.yml", "environment.yaml")
FILES = ("requirements.txt",) + LOCKS + DECLARING

# conda package -> PyPI distribution, where the names differ (conda-forge and defaults).
CONDA_TO_PYPI = {
    "pytorch": "torch", "pytorch-cpu": "torch", "py-xgboost": "xgboost", "py-xgboost-cpu": "xgboost",
    "python-graphviz": "graphviz", "opencv": "opencv-python-headless", "py-opencv": "opencv-python-headless",
    "matplotlib-base": "matplotlib", "seaborn-base": "seaborn", "pytables": "tables", "msgpack-python": "msgpack",
    "py-lightgbm": "lightgbm", "tensorflow-base": "tensorflow", "pyqt": "PyQt5", "libxgboost": "xgboost",
}
# conda packages that are not Python distributions (compilers, C libraries, CUDA, R ...):
# nothing to install from PyPI. The interpreter itself and pip are left out silently.
CONDA_ONLY = {
    "graphviz", "cudatoolkit", "cudnn", "cuda-toolkit", "pytorch-cuda", "cpuonly", "nccl", "mkl", "mkl-service",
    "blas", "openblas", "nomkl", "intel-openmp", "llvm-openmp", "nodejs", "gcc", "gxx", "make", "cmake", "git",
    "openjdk", "ffmpeg", "ca-certificates", "openssl", "sqlite", "zlib", "tk", "xz", "readline", "ncurses",
    "r-base", "poppler", "tesseract", "hdf5", "boost", "eigen", "swig", "pkg-config",
}
_SILENT = {"python", "pip", "setuptools", "wheel"}
_CONDA_SPEC = re.compile(r"^(?:[\w./:-]+::)?([A-Za-z0-9_.-]+)\s*(.*)$")  # [channel::]name rest
_OPERATOR = re.compile(r"\s*(==|!=|>=|<=|~=|>|<|,)\s*")
CONDA_FORMS = ("A conda dependency of environment.yml is a match spec: name, name 1.19.*, name 1.19.2, name=1.19 "
               "(any 1.19.x), name=1.19.2=build, name==1.19.2, name >=1.0,<2 (spaces allowed), channel::name, "
               "name[version='>=1.0']; pip's requirements go under `- pip:`.")


@dataclass
class Project:
    requirements: list[Requirement] = field(default_factory=list)
    requirements_txt: Path | None = None
    locked_by: str | None = None
    read: list[str] = field(default_factory=list)  # the files read, by name


def any_in(folder: Path) -> bool:
    return any((folder / name).is_file() for name in FILES)


def read(folder: Path) -> Project:
    project = Project()
    if (folder / "requirements.txt").is_file():
        project.requirements_txt = folder / "requirements.txt"
        project.read.append("requirements.txt")
    lock = next((name for name in LOCKS if (folder / name).is_file()), None)
    if lock:
        project.locked_by = lock
        project.read.append(lock)
        project.requirements = _READERS[lock](folder / lock)
        _log(f"{lock} pins every version: {len(project.requirements)} packages")
        return project
    for name in DECLARING:
        if not (folder / name).is_file():
            continue
        if name.startswith("environment.") and project.requirements_txt is not None:
            # One environment written twice, for conda users and for pip users (repo2docker reads one
            # of the two as well); pip's own file, with PyPI's names, is the one for a pip install.
            _log(f"{name} not read: requirements.txt beside it describes the same environment for pip, "
                 "which installs here")
            continue
        project.requirements += _READERS[name](folder / name)
        project.read.append(name)
    return project


def _log(message: str) -> None:
    print(f"---> {message}", file=sys.stderr, flush=True)


def _toml(path: Path) -> dict:
    try:
        return tomllib.loads(reqfile.read_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise RequirementsError(f"{path.name} cannot be read as TOML ({exc}).") from None


def _pipfile_lock(path: Path) -> list[Requirement]:
    try:
        default = json.loads(reqfile.read_text(path)).get("default", {})
    except ValueError as exc:
        raise RequirementsError(f"{path.name} cannot be read as JSON ({exc}). Run `pipenv lock` again.") from None
    found = []
    for name, entry in default.items():
        if "version" not in entry:
            _log(f"warning: {path.name}: {name} is a path or VCS entry; install it in a cell or requirements.txt")
            continue
        extras = f"[{','.join(entry['extras'])}]" if entry.get("extras") else ""
        marker = f"; {entry['markers']}" if entry.get("markers") else ""
        found.append(make(f"{name}{extras}{entry['version']}{marker}", path.name))
    return found


def _pylock(path: Path) -> list[Requirement]:
    found = []
    for package in _toml(path).get("packages", []):
        if "version" in package:
            marker = f"; {package['marker']}" if package.get("marker") else ""
            found.append(make(f"{package['name']}=={package['version']}{marker}", path.name))
    return found


def _uv_lock(path: Path) -> list[Requirement]:
    """uv reads its own lock: `uv export` writes it as requirements with markers."""
    cmd = ["uv", "export", "--frozen", "--format", "requirements-txt", "--no-hashes", "--no-emit-project",
           "--no-header", "--no-annotate", "--directory", str(path.parent)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RequirementsError(f"uv.lock cannot be read: `uv export` said: {result.stderr.strip()[-400:]}. "
                                "uv.lock needs its pyproject.toml beside it.")
    with tempfile.TemporaryDirectory() as tmp:
        exported = Path(tmp) / "uv.lock"  # so messages name the lock file
        exported.write_text(result.stdout, encoding="utf-8")
        return reqfile.read(exported).requirements


def _pipfile(path: Path) -> list[Requirement]:
    found = []
    for name, value in _toml(path).get("packages", {}).items():
        if isinstance(value, str):
            found.append(make(name + ("" if value.strip() == "*" else value), path.name, PEP508_FORMS))
        elif isinstance(value, dict) and "version" in value:
            extras = f"[{','.join(value['extras'])}]" if value.get("extras") else ""
            version = "" if value["version"].strip() == "*" else value["version"]
            marker = f"; {value['markers']}" if value.get("markers") else ""
            found.append(make(f"{name}{extras}{version}{marker}", path.name, PEP508_FORMS))
        else:
            _log(f"warning: {path.name}: {name} is a path or VCS entry; install it in a cell or requirements.txt")
    return found


def _pyproject(path: Path) -> list[Requirement]:
    dependencies = _toml(path).get("project", {}).get("dependencies", [])
    return [make(text, f"{path.name} [project] dependencies", PEP508_FORMS) for text in dependencies]


def _environment_yml(path: Path) -> list[Requirement]:
    try:
        data = yaml.safe_load(reqfile.read_text(path)) or {}
    except yaml.YAMLError as exc:
        raise RequirementsError(f"{path.name} cannot be read as YAML ({exc}).") from None
    found, skipped = [], []
    for entry in data.get("dependencies", []) or []:
        if isinstance(entry, dict):
            for line in entry.get("pip", []) or []:
                if str(line).startswith("-"):
                    _log(f"warning: {path.name}: the pip option {line!r} is not read; use requirements.txt for it")
                else:
                    found.append(make(str(line), f"{path.name} (pip)", PIP_FORMS))
            continue
        requirement = conda_to_pypi(str(entry))
        if requirement is None:
            name = _CONDA_SPEC.match(str(entry).strip())
            if name and name.group(1).lower() not in _SILENT:
                skipped.append(str(entry))
            continue
        found.append(make(requirement, path.name, CONDA_FORMS))
    if skipped:
        _log(f"warning: {path.name}: no PyPI package for the conda packages {', '.join(skipped)}; not installed "
             "(a system library or tool: add it to the builder image if the notebook needs it)")
    return found


def conda_to_pypi(spec: str) -> str | None:
    """A conda match spec as a PEP 508 requirement, as conda reads it, or None when there is nothing
    to install from PyPI. conda's version forms: `1.19.*` and `1.19*` a series, `1.19.2` exact (a
    build string after it ignored), `=1.19` any 1.19.x, `=1.19.2=build` exact, `==1.19.2`, and
    operators with or without spaces (`>= 1.0, <2`); `a|b` (either) keeps its first alternative."""
    match = _CONDA_SPEC.match(spec.strip())
    if not match:
        return None
    name, rest = match.group(1).lower(), match.group(2).strip()
    if name in _SILENT or name in CONDA_ONLY or name.startswith(("lib", "_", "r-")):
        return None
    name = CONDA_TO_PYPI.get(name, name)
    bracket = re.match(r"^\[(.*)\]$", rest)
    if bracket:  # name[version='>=1.0', build=...]
        found = re.search(r"version\s*=\s*['\"]([^'\"]*)['\"]", bracket.group(1))
        rest = found.group(1) if found else ""
    if not rest:
        return name
    if rest.startswith("=") and not rest.startswith("=="):  # =1.19 (fuzzy) / =1.19.2=py38_0 (exact, a build)
        version, *build = rest[1:].split("=")
        return f"{name}=={version.strip().rstrip('*').rstrip('.')}" + ("" if build else ".*")
    version = _OPERATOR.sub(lambda m: m.group(1), rest).split()[0]  # operators joined, a build string dropped
    if "|" in version:
        _log(f"warning: the conda spec {spec!r} allows one of {version.replace('|', ', ')}; pip takes the first")
        version = version.split("|")[0]
    clauses = []
    for clause in version.split(","):
        if clause[:1].isdigit():  # a bare version: exact, or a series when it ends in *
            clause = "==" + (clause[:-1].rstrip(".") + ".*" if clause.endswith("*") else clause)
        clauses.append(clause)
    return f"{name}{','.join(clauses)}"


_READERS = {"Pipfile.lock": _pipfile_lock, "pylock.toml": _pylock, "uv.lock": _uv_lock, "Pipfile": _pipfile,
            "pyproject.toml": _pyproject, "environment.yml": _environment_yml, "environment.yaml": _environment_yml}
