"""What a declared requirement means for this build, where the line as written cannot install
here though it did where the notebook ran: found in public repositories, each logged.

- PyPI's `sklearn` is a placeholder whose releases refuse to install (they say: name
  scikit-learn); it means scikit-learn, whatever its version.
- A project for one operating system, written with no marker as `pip freeze` on Windows or
  macOS writes it (pywin32 has no Linux release), gets the marker it needed.
- `name @ file:///…/conda-bld/…/work`, what `pip freeze` writes for a conda package, names a
  folder of the machine it ran on; where that folder is absent it means `name` from the index.
- Jupyter's front ends (jupyter, notebook, jupyterlab ...) are what a person opens notebooks
  with, never what a cell imports; IPython runs the cells here, so they mean nothing.
- `pkg-resources==0.0.0` is what Debian's and Ubuntu's patched pip writes into a freeze for
  its own vendored setuptools; no such project exists, so it means nothing either.
"""
from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

from packaging.requirements import Requirement as Pep508

from .requirements import Requirement, make

STAND_INS = {"sklearn": "scikit-learn"}
_WINDOWS, _MACOS = 'sys_platform == "win32"', 'sys_platform == "darwin"'
PLATFORM_ONLY = {"pywin32": _WINDOWS, "pypiwin32": _WINDOWS, "pywinpty": _WINDOWS, "winpty": _WINDOWS,
                 "windows-curses": _WINDOWS, "wmi": _WINDOWS, "pyobjc": _MACOS, "pyobjc-core": _MACOS}
# Never installed, and why (the log line's tail).
_FRONT_END = "Jupyter's front end; IPython runs the cells here"
NOT_INSTALLED = {**{name: _FRONT_END for name in ("jupyter", "jupyterlab", "notebook", "nbclassic", "voila",
                                                  "jupyter-server", "jupyterlab-server", "jupyter-lsp", "jupyterlab-lsp")},
                 "pkg-resources": "which Debian's and Ubuntu's pip freeze writes for no project at all"}


def _log(message: str) -> None:
    print(f"---> {message}", file=sys.stderr, flush=True)


def interpret(found: list[Requirement]) -> list[Requirement]:
    """Each requirement as it means for this build; what is never installed (NOT_INSTALLED) left out."""
    left_out = [r for r in found if r.name in NOT_INSTALLED and not r.url]
    for reason in dict.fromkeys(NOT_INSTALLED[r.name] for r in left_out):
        named = ", ".join(f"{r.text} ({r.origin})" for r in left_out if NOT_INSTALLED[r.name] == reason)
        _log(f"Not installed: {named}, {reason}")
    return [_platform_marker(_absent_local_build(_stand_in(r))) for r in found if r not in left_out]


def _stand_in(req: Requirement) -> Requirement:
    target = STAND_INS.get(req.name)
    if target is None or req.url:
        return req
    marker = Pep508(req.text).marker
    _log(f"{req.text} ({req.origin}): PyPI's '{req.name}' is a placeholder for {target}, which provides the "
         f"'{req.name}' import, and its releases refuse to install; installing {target} instead")
    return make(target + (f"; {marker}" if marker else ""), req.origin)


def _absent_local_build(req: Requirement) -> Requirement:
    """`name @ file:///path` whose path is not on this machine: the name, from the index."""
    if not req.url or req.text.startswith("-e "):
        return req
    try:
        parsed = Pep508(req.text)
    except ValueError:  # a bare path or VCS line, passed through as written
        return req
    location = urlparse(parsed.url or "")
    if location.scheme != "file" or Path(unquote(location.path)).exists():
        return req
    text = parsed.name + (f"[{','.join(sorted(parsed.extras))}]" if parsed.extras else "") + \
        (f"; {parsed.marker}" if parsed.marker else "")
    _log(f"{req.text} ({req.origin}) names a folder of the machine it was frozen on (a conda build's); "
         f"installing {text} from the index instead")
    return make(text, req.origin)


def _platform_marker(req: Requirement) -> Requirement:
    """A project for one operating system, declared with no marker, gets that system's marker."""
    marker = PLATFORM_ONLY.get(req.name) or (_MACOS if req.name.startswith("pyobjc-framework-") else None)
    if marker is None or req.url or Pep508(req.text).marker is not None:
        return req
    _log(f"{req.text} ({req.origin}) is for one operating system only; installed as if declared "
         f"`{req.text}; {marker}` (not here)")
    return make(f"{req.text}; {marker}", req.origin)
