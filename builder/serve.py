"""`nbs2i serve|score|stream OUT`: exec the service's code with OUT/venv; nothing of the builder."""
from __future__ import annotations

import os
from pathlib import Path

from nbs2i_service import contract

from .errors import BuildError


def command(out: Path) -> list[str]:
    """gunicorn run by OUT's own Python (`python -m`), so a copied or moved OUT serves itself."""
    paths = contract.out_paths(out)
    python = paths["venv"] / "bin" / "python"
    conf = paths["service"] / "gunicorn.conf.py"
    for needed in (python, conf, paths["model"] / contract.METADATA_FILE):
        if not needed.exists():
            raise BuildError(f"{needed} is missing: {out} is not a complete build. Run: nbs2i build SOURCE --out {out}")
    return [str(python), "-m", "gunicorn", "--config", str(conf)]


def exec_module(out: Path, module: str, args: list[str]) -> None:
    """Replace this process with `OUT/venv/bin/python -m module args` (score, stream)."""
    out = Path(out).resolve()
    command(out)  # the same completeness checks as serve
    python = str(contract.out_paths(out)["venv"] / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.setdefault("NBS2I_MODEL_DIR", str(contract.out_paths(out)["model"]))
    os.execve(python, [python, "-m", module, *args], env)


def exec_service(out: Path, port: int | None = None, workers: int | None = None, host: str | None = None,
                 grpc_port: int | None = None) -> None:
    """Replace this process with gunicorn (so it gets signals directly, as PID 1 in a container)."""
    out = Path(out).resolve()
    argv = command(out)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if port is not None:
        env["PORT"] = env["NBS2I_HTTP_PORT"] = str(port)
    if workers is not None:
        env["WEB_CONCURRENCY"] = str(workers)
    if host is not None:
        env["NBS2I_HOST"] = host
    if grpc_port is not None:
        env["NBS2I_GRPC_PORT"] = str(grpc_port)
    os.execve(argv[0], argv, env)
