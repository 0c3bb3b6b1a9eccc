"""The notebook's era: the day of its last commit, so that it can be built as a Jupyter of its time
had it (NBS2I_AS_OF).

`today` never looks back; `notebook` takes every unpinned or bounded requirement, IPython and
the environment's own pip and setuptools as of the notebook's last commit; a day (YYYY-MM-DD)
as of that day. The default builds with today's packages first and, when a cell fails inside
an installed package's code or on a module or name its release no longer has, and that
release came out after the notebook's last commit, builds once more as of that commit. A pin
keeps its version in every mode (venv.install exempts it from the day).
"""
from __future__ import annotations

import datetime as dt
import subprocess
import sys
from dataclasses import dataclass

from nbs2i_service.config import Config

from . import nearest
from .source import Source


@dataclass
class Era:
    day: str | None  # the day packages are taken as of (uv's --exclude-newer: the day after the commit), or None
    why: str         # for the build log and metadata.json


def committed(source: Source, config: Config | None = None) -> str | None:
    """YYYY-MM-DD of the notebook's last commit: NBS2I_NOTEBOOK_COMMITTED where the source holds no
    git history (s2i copies none; `nbs2i image` sets it from the checkout), else git's."""
    if config is not None and config.notebook_committed:
        return config.notebook_committed
    try:
        out = subprocess.run(["git", "-C", str(source.notebook.parent), "log", "-1", "--format=%cs", "--",
                              source.notebook.name], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    day = out.stdout.strip()
    return day if out.returncode == 0 and len(day) == 10 else None


def after(day: str) -> str:
    return (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()


def chosen(config: Config, source: Source) -> Era | None:
    """The era NBS2I_AS_OF asks for before anything is built (None: today's packages, first)."""
    if config.as_of in ("auto", "today"):
        return None
    if config.as_of == "notebook":
        day = committed(source, config)
        if day is None:
            print(f"---> NBS2I_AS_OF=notebook: {source.notebook.name} has no commit in a git checkout here to date "
                  "it by; today's packages are taken", flush=True, file=sys.stderr)
            return None
        return Era(after(day), f"NBS2I_AS_OF=notebook: {source.notebook.name} was last committed on {day}")
    return Era(config.as_of, f"NBS2I_AS_OF={config.as_of}")


def retry(config: Config, source: Source, cause: dict | None, cell: int) -> Era | None:
    """After a cell failed on today's packages: the notebook's era, when the default allows a second
    build and the package the cell failed in came out after the notebook's last commit."""
    if config.as_of != "auto" or not cause:
        return None
    day = committed(source, config)
    if day is None:
        return None
    released = nearest.released_day(cause["distribution"], cause["version"], config)
    if released is not None and released.isoformat() <= day:
        return None  # the notebook already had this release: its era would fail the same way
    return Era(after(day), f"cell {cell} failed in {cause['distribution']} {cause['version']} ({cause['how']}), a "
                           f"release after the notebook's last commit on {day}")


def hint(source: Source, cause: dict | None, config: Config) -> str:
    """For a failure today's packages caused, with the era build off (NBS2I_AS_OF=today): the way back."""
    day = committed(source, config)
    if not cause or not day:
        return ""
    return (f"\n  The cell failed in {cause['distribution']} {cause['version']} ({cause['how']}); {source.notebook.name} "
            f"was last committed on {day}: NBS2I_AS_OF=notebook builds it with the packages of then.")

