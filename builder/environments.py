"""The two environments of a build (design.md): where the notebook runs, and what serves it.

The build environment is the notebook's requirements plus IPython, as a Jupyter kernel's
environment would be; it is temporary and never part of OUT. The served environment
(OUT/venv) holds what the model uses (serving.py) and the service's packages, pinned to
the versions the notebook ran with, and no notebook tooling. Both install from one package
cache, so the second costs links, not downloads.
"""
from __future__ import annotations

import contextlib
import dataclasses
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from nbs2i_service.config import Config
from packaging.requirements import Requirement as Pep508
from packaging.utils import canonicalize_name

from . import venv
from .reqfile import Indexes
from .requirements import Requirement, install_args

# What the service imports at run time (service_skeleton/); nothing from Jupyter.
# gevent: the default worker (nbs2i_service/worker.py); threadpoolctl: thread pools across fork
# (nbs2i_service/threads.py); redis: the stream worker (NBS2I_MODE=stream).
SERVICE_REQUIREMENTS = ("cloudpickle>=3", "flask>=3,<4", "gunicorn[gevent]>=23", "threadpoolctl>=3",
                        "orjson>=3.9", "jsonschema>=4.18", "fastjsonschema>=2.19", "redis>=5")
# What runs the cells: IPython 8, because 9 removed what many notebooks still import
# (`from IPython.display import set_matplotlib_formats`); a notebook that asks for an
# ipython of its own gets that one. nbformat: `%run other.ipynb` reads notebooks with it.
BUILD_REQUIREMENTS = ("ipython>=8.18,<9", "nbformat>=5.9")
# Notebook tooling: kept out of the served environment even when a notebook names it.
TOOLING = frozenset({"ipython", "ipykernel", "ipywidgets", "jupyter", "jupyterlab", "notebook", "nbconvert",
                     "nbformat", "nbclient", "jupyter-client", "jupyter-core", "jupyter-server", "voila"})


def _log(message: str) -> None:
    print(f"---> {message}", file=sys.stderr, flush=True)


def build_specs(requirements: list[Requirement]) -> list[str]:
    """The build environment: the notebook's requirements, the service's, and IPython unless named."""
    named = {r.name for r in requirements}
    extra = [s for s in BUILD_REQUIREMENTS if canonicalize_name(Pep508(s).name) not in named]
    return install_args(requirements) + list(SERVICE_REQUIREMENTS) + extra


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


@contextlib.contextmanager
def build_environment(requirements: list[Requirement], service_dir: Path, config: Config) -> Iterator[Path]:
    """A temporary venv to run the notebook in; yields its root, removes it afterwards."""
    with tempfile.TemporaryDirectory(prefix="nbs2i-build-env-") as tmp:
        env = Path(tmp) / "env"
        venv.create(env, config, seed=True)
        names = ", ".join(r.text for r in requirements) or "(none from the notebook)"
        venv.install(env, build_specs(requirements), config, requirements,
                     f"the requirements {names} into the build environment")
        venv.link_service(env, service_dir)
        yield env


def served_environment(target: Path, specs: list[str], requirements: list[Requirement], pins: list[str],
                       service_dir: Path, config: Config) -> None:
    """OUT/venv: specs (with the service's packages and NBS2I_SERVE_REQUIREMENTS), at the versions
    the notebook ran with (pins: name==version of the build environment). Relocatable: OUT may move."""
    venv.create(target, config, relocatable=True)
    extra = list(config.serve_requirements)
    install_served(target, specs + list(SERVICE_REQUIREMENTS) + extra, requirements, pins, config,
                   f"into the served environment: {', '.join(specs + extra) or 'the service only'}")
    venv.link_service(target, service_dir)


def install_served(target: Path, specs: list[str], requirements: list[Requirement], pins: list[str],
                   config: Config, what: str) -> None:
    """Install specs into the served environment, constrained to the build environment's versions."""
    with tempfile.NamedTemporaryFile("w", prefix="nbs2i-pins-", suffix=".txt") as constraints:
        constraints.write("\n".join(p for p in pins if "==" in p) + "\n")
        constraints.flush()
        venv.install(target, specs, config, requirements, what, Path(constraints.name))
