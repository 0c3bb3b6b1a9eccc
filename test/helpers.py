"""Shared test helpers: notebooks made in code, real builds, real gunicorn on loopback."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

REPO = Path(__file__).resolve().parents[1]
NBS2I = str(Path(sys.executable).parent / "nbs2i")
# One package cache for every build in the run: the second build of anything is warm.
CACHE = REPO / ".cache" / "uv"


BASE_IMAGE = "localhost/nbs2i-base:bookworm"  # made by scripts/make-base-image.sh


def engine_env() -> dict[str, str]:
    """podman/buildah settings that work on these machines (scripts/containers/, docs/images.md)."""
    env = dict(os.environ)
    env.update(CONTAINERS_CONF=str(REPO / "scripts" / "containers" / "containers.conf"),
               CONTAINERS_STORAGE_CONF=str(REPO / "scripts" / "containers" / "storage.conf"),
               BUILDAH_ISOLATION="chroot", BASE_IMAGE=BASE_IMAGE, ENGINE="podman")
    return env


def write_notebook(directory: Path, *cells: str, name: str = "model.ipynb", python: str | None = None) -> Path:
    """A notebook of code cells (a cell starting with '# md:' is markdown) in directory; python: the
    version its metadata says it last ran on, as Jupyter records it."""
    directory.mkdir(parents=True, exist_ok=True)
    nb_cells = [new_markdown_cell(c[len("# md:"):].strip()) if c.startswith("# md:") else new_code_cell(c)
                for c in cells]
    nb = new_notebook(cells=nb_cells, metadata={"kernelspec": {"name": "python3", "language": "python",
                                                                "display_name": "Python 3"}})
    if python:
        nb.metadata["language_info"] = {"name": "python", "version": python}
    path = directory / name
    nbformat.write(nb, str(path))
    return path


def build_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NBS2I_")}
    env["NBS2I_CACHE_DIR"] = str(CACHE)
    env.update(extra)
    return env


def nbs2i(*args: str, env: dict[str, str] | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([NBS2I, *args], capture_output=True, text=True, env=env or build_env(), timeout=timeout)


def build_ok(src: Path, out: Path, *args: str, **env: str) -> str:
    """`nbs2i build SRC --out OUT ARGS` with env added; asserts success; returns the build log."""
    result = nbs2i("build", str(src), "--out", str(out), *args, env=build_env(**env))
    assert result.returncode == 0, result.stderr
    return result.stderr


def predict(out: Path, sample: object) -> object:
    """Serve OUT with a real gunicorn (one worker), POST sample to /predict, return the prediction."""
    with Service(out, workers=1) as svc:
        status, _, body = request(svc.url + "/predict", sample)
    assert status == 200, body
    return body["prediction"]


def build_notebook(root: Path, *cells: str, **env: str) -> Path:
    """Build a notebook of these cells for real (nbs2i build); return its OUT."""
    write_notebook(root / "src", *cells)
    result = nbs2i("build", str(root / "src"), "--out", str(root / "out"), env=build_env(**env))
    assert result.returncode == 0, result.stderr
    return root / "out"


# What no served environment holds (OUT/venv): the notebook tooling stays in the build.
NOTEBOOK_TOOLING = {"ipython", "ipykernel", "nbconvert", "nbformat", "jupyter", "jupyter-core", "jupyter-client",
                    "notebook", "jupyterlab", "nbclient"}


def served_distributions(out: Path) -> set[str]:
    """Lower-cased names of every distribution installed in OUT/venv, as its own Python sees them."""
    code = "import importlib.metadata as m; print('\\n'.join(d.metadata['Name'] for d in m.distributions()))"
    listing = subprocess.run([str(out / "venv" / "bin" / "python"), "-c", code], capture_output=True, text=True,
                             check=True, cwd="/")
    return {line.strip().lower() for line in listing.stdout.splitlines() if line.strip()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """`nbs2i serve OUT` on a free loopback port; stopped (SIGTERM) by stop()."""

    def __init__(self, out: Path, workers: int | None = 2, **env: str):
        """workers=None: no --workers, so WEB_CONCURRENCY (or the CPU count) decides."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # gRPC on a port of its own too: two services on one port would share it (SO_REUSEPORT)
        env.setdefault("NBS2I_GRPC_PORT", str(free_port()))
        self.grpc_port = int(env["NBS2I_GRPC_PORT"])
        self.grpc = f"127.0.0.1:{self.grpc_port}"
        full = build_env(NBS2I_HOST="127.0.0.1", **env)
        self.log_path = out.parent / f"serve-{self.port}.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([NBS2I, "serve", str(out), "--port", str(self.port)]
                                     + (["--workers", str(workers)] if workers else []),
                                     env=full, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60) -> "Service":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"service exited {self.proc.returncode}:\n{self.output()}")
            try:
                if request(self.url + "/health/ready")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"service not ready in {timeout}s:\n{self.output()}")

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text()

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.log.close()

    def __enter__(self) -> "Service":
        return self.wait_ready()

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.stop()


def request(url: str, body: object = None, method: str | None = None, headers: dict | None = None,
            raw: bytes | None = None, timeout: float = 30) -> tuple[int, dict, object]:
    """(status, headers, decoded JSON or text) for a request to the service."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    all_headers = {"Content-Type": "application/json"} if data is not None else {}
    all_headers.update(headers or {})
    req = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, hdrs, payload = resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        status, hdrs, payload = err.code, dict(err.headers), err.read()
    text = payload.decode()
    try:
        return status, hdrs, json.loads(text)
    except ValueError:
        return status, hdrs, text
