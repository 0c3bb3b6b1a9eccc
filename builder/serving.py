"""What serving needs: the distributions the artifact uses, derived from the artifact itself.

probe.py, in a fresh process of the build environment, names the modules the pickle
references, the modules the pickled functions import, and what loading the model and
answering `example` imports. The first two are what the model uses for certain: they
become distributions (the build environment's own `packages_distributions()`), closed over
their declared dependencies (markers evaluated for that interpreter), each pinned to the
version the notebook ran with. What loading imports is often optional (scikit-learn tries
`import pandas`), so it is not installed up front: the smoke test runs in the served
environment, and a module it misses that the build environment has is added, pinned, and
the smoke test runs again (pipeline.py). Verify, don't trust.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import InvalidMarker, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement as Pep508
from packaging.utils import canonicalize_name

from . import venv
from .environments import TOOLING
from .errors import BuildError

PROBE = Path(__file__).parent / "probe.py"
PROBE_TIMEOUT_S = 300


@dataclass
class Needs:
    served: list[str]        # name==version, the closure of what the artifact uses
    left_out: list[str]      # name==version of the build environment that serving does not need
    modules: list[str]       # top-level modules the artifact uses that come from distributions
    providers: dict          # top-level module -> distribution, in the build environment
    on_demand: dict          # top-level module -> pinned spec of a left-out distribution providing it
    loaded: list[str]        # modules loading and the example imported, for the record


def probe(env_root: Path, model_dir: Path, data: dict) -> dict:
    """Run probe.py in the build environment (data: the notebook's example, if any); its JSON report."""
    env = venv.build_process_env(env_root)
    env["MPLBACKEND"] = "Agg"
    try:
        result = subprocess.run([str(env_root / "bin" / "python"), str(PROBE), str(model_dir)], capture_output=True,
                                text=True, env=env, cwd="/", timeout=PROBE_TIMEOUT_S, input=json.dumps(data))
    except subprocess.TimeoutExpired:
        raise BuildError(f"Finding what serving needs took over {PROBE_TIMEOUT_S} s: loading the model or answering "
                         "its example hangs. Check predictor(example), or set NBS2I_MINIMAL_ENV=0.") from None
    if result.returncode != 0:
        raise BuildError("Finding what serving needs failed while loading the model in a fresh process:\n    "
                         + "\n    ".join(result.stderr.strip().splitlines()[-15:])
                         + "\n  Set NBS2I_MINIMAL_ENV=0 to serve the whole build environment instead.")
    try:
        return json.loads(result.stdout)
    except ValueError:
        raise BuildError("Finding what serving needs failed: the probe's report is unreadable (nbs2i bug; please "
                         f"report it with the build log): {result.stdout[:300]!r}. Set NBS2I_MINIMAL_ENV=0 to go on.") from None


def needs(report: dict, keep: list[str]) -> Needs:
    """The served set: distributions of the used modules and of NBS2I_SERVE_REQUIREMENTS, and their
    dependencies, at the build environment's versions; notebook tooling never. The service's own
    packages are not in it: they are resolved around it (environments.py), so a version the
    notebook happened to have (a web app's Flask) never binds the service."""
    dists = {canonicalize_name(name): (name, facts) for name, facts in report["distributions"].items()}
    by_module: dict[str, list[str]] = {}
    for key, (_, facts) in dists.items():
        for module in facts["modules"]:
            by_module.setdefault(module, []).append(key)
    used = {m.split(".")[0] for source in ("pickle", "code") for m in report[source]}
    modules = sorted(m for m in used if m in by_module)
    roots = [(key, frozenset()) for m in modules for key in by_module[m]]
    for text in keep:
        parsed = Pep508(text)
        if canonicalize_name(parsed.name) in dists:
            roots.append((canonicalize_name(parsed.name), frozenset(parsed.extras)))
    closure = {k for k in _closure(roots, dists, report["markers"]) if k not in TOOLING}
    served = sorted(_pinned(*dists[k]) for k in closure)
    left_out = sorted(f"{name}=={facts['version']}" for key, (name, facts) in dists.items() if key not in closure)
    providers = {module: dists[keys[0]][0] for module, keys in by_module.items()}
    on_demand = {module: _pinned(*dists[keys[0]]) for module, keys in by_module.items()
                 if keys[0] not in closure and keys[0] not in TOOLING}
    loaded = sorted({m.split(".")[0] for m in report["loaded"]} & set(by_module))
    return Needs(served, left_out, modules, providers, on_demand, loaded)


def add(found: Needs, spec: str) -> None:
    """Record that spec joined the served set after the smoke test asked for it."""
    found.served = sorted(set(found.served) | {spec})
    found.left_out = [p for p in found.left_out if p.split("==")[0] != spec.split("==")[0].split(" @ ")[0]]


def _pinned(name: str, facts: dict) -> str:
    """name==version, or name @ URL for what was installed from a path, URL or VCS (PEP 610)."""
    direct = facts.get("direct_url")
    if not direct:
        return f"{name}=={facts['version']}"
    url = direct["url"]
    if "vcs_info" in direct:
        url = f"{direct['vcs_info']['vcs']}+{url}@{direct['vcs_info']['commit_id']}"
    return f"{name} @ {url}"


def _closure(roots: list[tuple[str, frozenset]], dists: dict, markers: dict) -> set[str]:
    seen: set[tuple[str, frozenset]] = set()
    names: set[str] = set()
    queue = list(roots)
    while queue:
        key, extras = queue.pop()
        if (key, extras) in seen or key not in dists:
            continue
        seen.add((key, extras))
        names.add(key)
        for text in dists[key][1]["requires"]:
            dependency = _applies(text, extras, markers)
            if dependency is not None:
                queue.append(dependency)
    return names


def _applies(text: str, extras: frozenset, markers: dict) -> tuple[str, frozenset] | None:
    """(name, extras) of a declared dependency whose marker holds here, for the extras asked for."""
    try:
        parsed = Pep508(text)
    except InvalidRequirement:
        return None
    if parsed.marker is not None:
        try:
            if not any(parsed.marker.evaluate({**markers, "extra": extra}) for extra in (extras or {""})):
                return None
        except (InvalidMarker, UndefinedEnvironmentName):
            return None
    return canonicalize_name(parsed.name), frozenset(parsed.extras)


def describe(found: Needs, build_size: int, served_packages: int, served_size: int) -> None:
    """The build log's account of what was served and what was left out."""
    print(f"---> Served environment: {served_packages} packages with the service's own, {served_size / 1e6:.0f} MB "
          f"(the build environment: {len(found.served) + len(found.left_out)} packages, {build_size / 1e6:.0f} MB)",
          file=sys.stderr, flush=True)
    if found.left_out:
        print("     left out (serving does not use them): " + ", ".join(p.split("==")[0] for p in found.left_out),
              file=sys.stderr, flush=True)


def size(root: Path) -> int:
    """Bytes of the files under root (links not followed)."""
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                total += os.path.getsize(path)
    return total
