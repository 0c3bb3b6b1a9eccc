"""The two environments of a build (design.md): where the notebook runs, and what serves it.

The build environment is the notebook's requirements plus IPython, as a Jupyter kernel's
environment would be; it is temporary and never part of OUT. The served environment
(OUT/venv) holds what the model uses (serving.py), pinned to the versions the notebook ran
with, and the service's packages resolved around those; no notebook tooling. The service's
packages never enter the build environment, so the notebook's own pins cannot clash with
them there. Both install from one package cache, so the second costs links, not downloads.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from nbs2i_service.config import Config
from packaging.requirements import Requirement as Pep508
from packaging.utils import canonicalize_name

from . import imports, nearest, reuse, signing, specifiers, venv
from .errors import InstallError
from .reqfile import Indexes
from .requirements import Requirement, install_args, make

# What the service imports at run time (service_skeleton/); nothing from Jupyter. It goes into
# the served environment only, resolved around the model's own pins, so the floors are the
# oldest releases the service works with. gevent: the default worker (nbs2i_service/worker.py);
# threadpoolctl: thread pools across fork (nbs2i_service/threads.py; threadpool_limits(limits=)
# since 2.0); redis: the stream worker (NBS2I_MODE=stream); cloudpickle 2.2: Python 3.11's code objects;
# jsonschema 4, not 4.18: 4.18 needs attrs 22.2, newer than the attrs of a model built as of 2022.
# gRPC's floors are low on purpose: a notebook's pinned protobuf (3.20 beside an old TensorFlow) must
# still resolve, and grpc_front.py reads its messages with any protobuf from 3.20 on.
SERVICE_REQUIREMENTS = ("cloudpickle>=2.2", "flask>=3,<4", "gunicorn[gevent]>=23", "threadpoolctl>=2",
                        "orjson>=3.9", "jsonschema>=4", "fastjsonschema>=2.19", "redis>=5",
                        "grpcio>=1.48", "grpcio-health-checking>=1.48", "grpcio-reflection>=1.48")
# What runs the cells and saves the model, and nothing else of nbs2i's: a repository's own pins
# (a web app's Flask==1.1.2 in requirements.txt) never meet the service's in the build
# environment. IPython 8, because 9 removed what many notebooks still import
# (`from IPython.display import set_matplotlib_formats`); nbformat: `%run other.ipynb` reads
# notebooks with it; cloudpickle: the runner saves predictor with it (2.2: Python 3.11's code
# objects); ipywidgets: every Jupyter install has it, and `from tqdm.notebook import tqdm`
# fails without it ("IProgress not found"). Floors as low as the runner allows, so that
# NBS2I_RELAX_PINS' era (nearest.py) can take them as of 2022; else they are the newest.
# A notebook that names one gets its own.
BUILD_REQUIREMENTS = ("ipython>=8,<9", "nbformat>=5", "cloudpickle>=2.2", "ipywidgets>=7")
# Notebook tooling: kept out of the served environment even when a notebook names it.
TOOLING = frozenset({"ipython", "ipykernel", "ipywidgets", "jupyter", "jupyterlab", "notebook", "nbconvert",
                     "nbformat", "nbclient", "jupyter-client", "jupyter-core", "jupyter-server", "voila"})


def _log(message: str) -> None:
    print(f"---> {message}", file=sys.stderr, flush=True)


def build_specs(requirements: list[Requirement]) -> list[str]:
    """The build environment: the notebook's requirements, and what runs them (IPython ...) unless named."""
    return install_args(requirements) + _ours(requirements)


def _ours(requirements: list[Requirement]) -> list[str]:
    """BUILD_REQUIREMENTS the notebook does not name itself."""
    named = {r.name for r in requirements}
    return [s for s in BUILD_REQUIREMENTS if canonicalize_name(Pep508(s).name) not in named]


def served_specs(requirements: list[Requirement]) -> list[str]:
    """NBS2I_MINIMAL_ENV=0: the notebook's requirements less its tooling (the service's are added later)."""
    dropped = [r.text for r in requirements if r.name in TOOLING]
    if dropped:
        _log(f"Not installed in the served environment (notebook tooling): {', '.join(dropped)}")
    return install_args([r for r in requirements if r.name not in TOOLING])


def with_indexes(config: Config, indexes: Indexes) -> Config:
    """Index options from a requirements file apply unless the environment names an index, which wins."""
    env_sets = config.index_url or config.extra_index_urls
    if indexes.origin and env_sets:
        _log(f"Package index: the environment's (PIP_INDEX_URL / PIP_EXTRA_INDEX_URL); the index options of "
             f"{indexes.origin} are not used")
    elif indexes.origin:
        config = dataclasses.replace(config, index_url=indexes.index_url or config.index_url,
                                     extra_index_urls=config.extra_index_urls + tuple(indexes.extra_index_urls))
    if indexes.find_links:
        config = dataclasses.replace(config, find_links=config.find_links + tuple(indexes.find_links))
    _log("Package index: " + (config.index_url or "the installer's default (PyPI)")
         + "".join(f", then {url}" for url in config.extra_index_urls)
         + (f" (from {indexes.origin})" if indexes.origin and not env_sets else ""))
    return config


@dataclasses.dataclass
class BuildEnvironment:
    root: Path
    requirements: list[Requirement]  # what was installed: the asked ones, or (NBS2I_RELAX_PINS) their fallback
    era: str | None                  # the day the rest was taken as of, or None
    added: list[Requirement]         # packages added for imports the requirements left unprovided
    reused: bool                     # kept from an earlier build of the same inputs (reuse.py)


@contextlib.contextmanager
def build_environment(requirements: list[Requirement], service_dir: Path, config: Config,
                      fallback: list[Requirement] | None = None, era: str | None = None,
                      imported: dict[str, str] | None = None, directory: Path | None = None,
                      relaxed: list | None = None) -> Iterator[BuildEnvironment]:
    """The venv the notebook runs in: the requirements, then the well-known packages of imports
    they leave unprovided (add_imported). With NBS2I_RELAX_PINS (nearest.py): the nearest releases
    and the rest as of the era; when they do not install together, fallback (the pins as lower
    bounds) as of the era; then fallback alone; a relaxed pin that installs but does not import moves on
    to the nearest release that does (nearest.importable). Kept for rebuilds of the same inputs (reuse.py)."""
    rest = f"the rest as of {era}" if era else "the rest newest"
    attempts = [(requirements, era, f"the nearest releases with {rest}")]
    if fallback and era:
        attempts.append((fallback, era, f"lower bounds (>=) with {rest}"))
    if fallback:
        attempts.append((fallback, None, "lower bounds (>=) with the rest newest"))
    imported = imported or {}
    made_from = reuse.key({"python": venv.base_python(config), "installer": venv.installer(config),
                           "attempts": [(build_specs(r), as_of) for r, as_of, _ in attempts], "imports": sorted(imported),
                           "indexes": [config.index_url, config.extra_index_urls, config.find_links]})
    with reuse.build_slot(config, made_from) as env:
        kept = reuse.recorded(env, made_from)
        if kept is not None:
            reqs = attempts[kept["attempt"]][0]
            added = [make(name, origin) for name, origin in kept["added"]]
            _log(f"Build environment: the one made for these requirements before, kept ({env})")
            for note in kept.get("notes", []):
                _log(note)
        else:
            notes = []
            for number, (reqs, as_of, what) in enumerate(attempts, start=1):
                venv.create(env, config, seed=not era)  # an era's environment gets the era's pip and setuptools
                try:
                    _install_build(env, reqs, config, as_of, era)
                    moved = nearest.importable(env, relaxed, config) if number == 1 and relaxed else []
                    for name, old, new, error in moved:
                        notes.append(f"NBS2I_RELAX_PINS: {name}=={old} installs but does not import on the build's "
                                     f"Python ({error}); installed the nearest release that imports, {name}=={new}")
                        _log(notes[-1])
                    break
                except InstallError:
                    if number == len(attempts):
                        raise
                    notes.append(f"NBS2I_RELAX_PINS: {what} did not install; trying {attempts[number][2]}")
                    _log(notes[-1])
            added = add_imported(env, reqs, imported, directory or Path.cwd(), config, attempts[number - 1][1])
            reuse.remember(env, made_from, {"attempt": number - 1, "added": [(r.text, r.origin) for r in added],
                                            "notes": notes})
        as_of = attempts[kept["attempt"] if kept else number - 1][1]
        venv.link_service(env, service_dir)
        yield BuildEnvironment(env, reqs, era if as_of else None, added, kept is not None)


def _install_build(env: Path, requirements: list[Requirement], config: Config, as_of: str | None,
                   era: str | None = None) -> None:
    """requirements and what runs them, as of a day or newest; an era's seeds as of the era either way."""
    names = ", ".join(r.text for r in requirements) or "(none from the notebook)"
    seeds = {name: era for name in ERA_SEEDS} if era and not as_of else {}
    venv.install(env, build_specs(requirements) + (list(ERA_SEEDS) if era else []), config, requirements,
                 f"the requirements {names} into the build environment", ours=_ours(requirements), as_of=as_of,
                 exempt={**seeds, **exempt(requirements, config, as_of)})


# What `uv venv --seed` puts in a build environment, taken as of the era in an era's build: a
# setuptools of 2022 still has pkg_resources, which libraries of then import and setuptools 82 removed.
ERA_SEEDS = ("pip", "setuptools", "wheel")


def exempt(requirements: list[Requirement], config: Config, as_of: str | None) -> dict[str, str]:
    """Packages an era's build takes as of another day: every pin (it keeps its version in every mode),
    and nbs2i's own build requirements whose floor came out after the era (cloudpickle 2.2, the first
    to pickle Python 3.11's code, is of September 2022), as of their floor's day."""
    if not as_of:
        return {}
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    found = {r.name: tomorrow for r in requirements if not r.url and specifiers.has_pin(r.text)}
    named = {r.name for r in requirements}
    for spec in BUILD_REQUIREMENTS:
        floor = next((s.version for s in Pep508(spec).specifier if s.operator == ">="), None)
        name = canonicalize_name(Pep508(spec).name)
        if floor and name not in named:
            day = nearest.released_day(name, floor, config)
            if day is not None and day.isoformat() >= as_of:
                found[name] = (day + dt.timedelta(days=1)).isoformat()
    return found


def add_imported(env: Path, requirements: list[Requirement], imported: dict[str, str], directory: Path,
                 config: Config, era: str | None = None) -> list[Requirement]:
    """Packages the cells import that no declared requirement installed (a requirements.txt written
    for a web app beside the notebook lists Flask, not the pandas the notebook trains with): the
    well-known ones join the build environment, as they were in the Jupyter the notebook ran in.
    Returns what was added; an unknown import is only named (a look-alike name could be anybody's),
    and packages that do not install are only warned of: the cell that needs one then fails."""
    missing = venv.missing_modules(env, sorted(imported), directory)
    added: list[Requirement] = []
    for module in missing:
        name = imports.distribution(module)
        if name is None:
            _log(f"warning: {imported[module]} imports '{module}', which no requirement installed and which is not "
                 "a well-known import name; that cell will fail unless the notebook installs it first")
        elif canonicalize_name(name) not in {r.name for r in requirements + added}:
            added.append(make(name, f"imported in {imported[module]}, not declared"))
    if added:
        _log("The notebook imports what its requirements do not install; adding the packages of those well-known "
             "import names: " + ", ".join(f"{r.text} ({r.origin})" for r in added))
        together = requirements + added
        what = f"{', '.join(r.text for r in added)} into the build environment"
        for as_of in ([era] if era else []) + [None]:
            try:
                venv.install(env, build_specs(together) + (list(ERA_SEEDS) if as_of else []), config, together, what,
                             ours=_ours(together), as_of=as_of, exempt=exempt(together, config, as_of))
                return added
            except InstallError as exc:
                reason = str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else str(exc)
                _log(f"warning: they did not install{f' as of {era}' if as_of else ''} ({reason})"
                     + ("; taking them newest" if as_of else "; going on without them: a cell that imports one "
                        "fails as it would in Jupyter, naming it"))
    return []


@dataclasses.dataclass
class ServedEnvironment:
    root: Path
    made_from: str     # reuse.key of its inputs
    added: list[str]   # specs an earlier smoke test added to the environment kept (none for a new one)

    def keep(self, added: list[str]) -> None:
        """The smoke test passed: a rebuild of the same inputs may keep this environment."""
        reuse.remember(self.root, self.made_from, {"added": self.added + added})


def served_environment(target: Path, specs: list[str], requirements: list[Requirement], pins: list[str],
                       service_dir: Path, config: Config) -> ServedEnvironment:
    """OUT/venv: specs with NBS2I_SERVE_REQUIREMENTS, held at the versions the notebook ran with (pins:
    name==version of the build environment), and the service's packages resolved around them.
    Relocatable: OUT may move. Kept when the last build made it from the same inputs (reuse.py)."""
    extra = list(config.serve_requirements) + (list(signing.VERIFYING_REQUIREMENTS) if signing.signing(config) else [])
    made_from = reuse.key({"python": venv.base_python(config), "installer": venv.installer(config),
                           "specs": specs + list(SERVICE_REQUIREMENTS) + extra, "pins": sorted(pins),
                           "indexes": [config.index_url, config.extra_index_urls, config.find_links]})
    kept = reuse.recorded(target, made_from) if config.reuse_environments else None
    if kept is not None:
        _log("Served environment: what the last build made it from is unchanged; kept (OUT/venv)")
        venv.link_service(target, service_dir)
        return ServedEnvironment(target, made_from, list(kept["added"]))
    venv.create(target, config, relocatable=True)
    install_served(target, specs + list(SERVICE_REQUIREMENTS) + extra, requirements, pins, config,
                   f"into the served environment: {', '.join(specs + extra) or 'nothing of the model'}, and the "
                   "service's packages")
    venv.link_service(target, service_dir)
    return ServedEnvironment(target, made_from, [])


def install_served(target: Path, specs: list[str], requirements: list[Requirement], pins: list[str],
                   config: Config, what: str) -> None:
    """Install specs into the served environment, constrained to pins (name==version of the build
    environment: the versions the model ran with)."""
    with tempfile.NamedTemporaryFile("w", prefix="nbs2i-pins-", suffix=".txt") as constraints:
        constraints.write("\n".join(p for p in pins if "==" in p) + "\n")
        constraints.flush()
        venv.install(target, specs, config, requirements, what, Path(constraints.name), ours=SERVICE_REQUIREMENTS)
