"""What a rebuild keeps (NBS2I_REUSE_ENVIRONMENTS, default 1): an environment made from the same
inputs is the same environment, so a rebuild keeps it and makes it again only when an input
changes. The edit-rebuild loop then costs the notebook's cells, not two installs and a compile.

- Build environments live beside the package cache, in nbs2i-build-environments/KEY (KEY: a
  hash of everything one is made from: the interpreter, the installer, the specs, the era, the
  indexes, the imports the build adds packages for, nbs2i's version), at most KEEP of them, the
  least recently used removed first. A build holds its environment's lock while it runs; one
  that finds it held makes a temporary environment instead, as with NBS2I_REUSE_ENVIRONMENTS=0.
- OUT/venv carries a stamp of what it was made from (STAMP); a rebuild that would make it from
  the same inputs keeps it, with the bytecode the smoke test compiled into it.
"""
from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from nbs2i_service.config import Config

from . import __version__

KEEP = 8
STAMP = "nbs2i-environment.json"
_FOLDER = "nbs2i-build-environments"


def key(inputs: dict[str, Any]) -> str:
    """What an environment is made from, as a hash: nbs2i's own code included (a changed nbs2i may
    make it otherwise)."""
    text = json.dumps({**inputs, "nbs2i": [__version__, _code()]}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@functools.lru_cache(maxsize=1)
def _code() -> str:
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _root(config: Config) -> Path:
    base = config.cache_dir or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nbs2i"
    return Path(base) / _FOLDER


def recorded(env: Path, wanted: str) -> dict[str, Any] | None:
    """The facts an environment's stamp recorded, when it was made from `wanted` (a key) and is whole."""
    try:
        stamp = json.loads((env / STAMP).read_text())
    except (OSError, ValueError):
        return None
    return stamp.get("facts") if stamp.get("key") == wanted and (env / "bin" / "python").exists() else None


def remember(env: Path, made_from: str, facts: dict[str, Any]) -> None:
    (env / STAMP).write_text(json.dumps({"key": made_from, "facts": facts}, default=str))


def forget(env: Path) -> None:
    """The environment is being changed: until it is stamped again, nothing reuses it."""
    with contextlib.suppress(FileNotFoundError):
        (env / STAMP).unlink()


@contextlib.contextmanager
def build_slot(config: Config, made_from: str) -> Iterator[Path]:
    """Where the build environment goes: the kept one of this key (locked while the build runs),
    else a temporary folder removed afterwards. An environment is reused only once stamped
    (remember), so one whose install failed is made again; a failing cell leaves it reusable."""
    if not config.reuse_environments:
        with tempfile.TemporaryDirectory(prefix="nbs2i-build-env-") as tmp:
            yield Path(tmp) / "env"
        return
    root = _root(config)
    root.mkdir(parents=True, exist_ok=True)
    lock = open(root / f"{made_from[:24]}.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:  # another build uses it now
        lock.close()
        with tempfile.TemporaryDirectory(prefix="nbs2i-build-env-") as tmp:
            yield Path(tmp) / "env"
        return
    env = root / made_from[:24]
    try:
        yield env
        if env.exists():
            os.utime(env, None)
    finally:
        lock.close()
    _prune(root)


def _prune(root: Path) -> None:
    """At most KEEP environments: the least recently used go (never one a build holds)."""
    kept = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in kept[KEEP:]:
        with open(root / f"{old.name}.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            shutil.rmtree(old, ignore_errors=True)
        (root / f"{old.name}.lock").unlink(missing_ok=True)
