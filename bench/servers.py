"""The servers compared: nbs2i serve, the HTTP floor, Flask's development server, MLflow.

Each runs as its own process on a loopback port and is stopped by its process group.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name: str, cmd: list[str], port: int, ready_path: str, env: dict | None = None):
        self.name, self.port = name, port
        self.url = f"http://127.0.0.1:{port}"
        full = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        full.update(env or {})
        self.proc = subprocess.Popen(cmd, env=full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited {self.proc.returncode}: {' '.join(cmd)}")
            try:
                with urllib.request.urlopen(self.url + ready_path, timeout=2):
                    return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"{name} did not start")

    def pids(self) -> list[int]:
        children = subprocess.run(["pgrep", "-g", str(self.proc.pid)], capture_output=True, text=True).stdout.split()
        return [int(p) for p in children]

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def nbs2i(out: Path, workers: int | None = None, threads: int = 1, env: dict | None = None) -> Server:
    port = free_port()
    extra = {"PORT": str(port), "NBS2I_HOST": "127.0.0.1", "NBS2I_ACCESS_LOG": "0", "NBS2I_THREADS": str(threads)}
    if workers:
        extra["WEB_CONCURRENCY"] = str(workers)
    extra.update(env or {})
    cmd = [str(out / "venv/bin/gunicorn"), "--config", str(out / "service/gunicorn.conf.py")]
    return Server(f"nbs2i w={workers or 'default'} t={threads}", cmd, port, "/health/ready", extra)


def http_floor(out: Path, workers: int) -> Server:
    """A gunicorn app that answers a constant: the cost of HTTP alone."""
    port = free_port()
    cmd = [str(out / "venv/bin/gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}", "--chdir", str(HERE),
           "constant_app:app"]
    return Server("constant gunicorn app", cmd, port, "/")


def plain_flask(out: Path, workers: int) -> Server:
    """The naive way: the same functions in a plain Flask app, gunicorn sync workers, preloaded."""
    port = free_port()
    cmd = [str(out / "venv/bin/gunicorn"), "-w", str(workers), "--preload", "-b", f"127.0.0.1:{port}",
           "--chdir", str(HERE), "plain_flask:app"]
    return Server("plain Flask + gunicorn", cmd, port, "/ping", {"MODEL_DIR": str(out / "model")})


def flask_dev(out: Path) -> Server:
    """The prototype's way: the same functions behind Flask's development server."""
    port = free_port()
    return Server("Flask dev server", [str(out / "venv/bin/python"), str(HERE / "flask_dev.py"), str(out), str(port)],
                  port, "/ping")


def mlflow(python: Path, model_dir: Path, workers: int | None) -> Server:
    port = free_port()
    cmd = [str(python.parent / "mlflow"), "models", "serve", "-m", str(model_dir), "--env-manager", "local",
           "-h", "127.0.0.1", "-p", str(port)]
    if workers:
        cmd += ["-w", str(workers)]
    path = f"{python.parent}:{os.environ.get('PATH', '')}"  # it starts uvicorn from its own venv
    return Server(f"MLflow w={workers or 'default'}", cmd, port, "/ping", {"PATH": path})


def memory_mb(server: Server) -> tuple[float, float]:
    """(PSS, RSS) in MB summed over the server's processes; PSS counts shared pages once."""
    pss = rss = 0
    for pid in server.pids():
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("Pss:"):
                pss += int(line.split()[1])
            elif line.startswith("Rss:"):
                rss += int(line.split()[1])
    return pss / 1024, rss / 1024


def predictor_rate(out: Path, sample: object, seconds: float = 3.0) -> float:
    """Calls per second of the bare predictor in one process: the model's own floor."""
    code = ("import json,sys,time; from nbs2i_service.model import load_model;"
            "m=load_model(sys.argv[1]); s=json.loads(sys.argv[2]); f=m.predictor;"
            "[f(s) for _ in range(50)]; n=0; t=time.perf_counter(); end=t+float(sys.argv[3])\n"
            "while time.perf_counter()<end:\n f(s); n+=1\n"
            "print(n/(time.perf_counter()-t))")
    out_text = subprocess.run([str(out / "venv/bin/python"), "-c", code, str(out), json.dumps(sample), str(seconds)],
                              capture_output=True, text=True, check=True,
                              env={**os.environ, "OMP_NUM_THREADS": "1"}).stdout
    return float(out_text.strip())


def _until_ready(url: str, started: float, what: str) -> float:
    """Seconds since started when url first answers 200, polled every 10 ms (120 s at most)."""
    while time.monotonic() - started < 120:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return time.monotonic() - started
        except OSError:
            time.sleep(0.01)
    raise TimeoutError(f"{what} was not ready in 120 s")


def start_to_ready(cmd: list[str], env: dict, ready: str = "/health/ready") -> float:
    """Seconds from starting cmd (a server on PORT) to its first 200 on ready, polled every 10 ms."""
    port = free_port()
    full = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    full.update(env, PORT=str(port))
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        return _until_ready(f"http://127.0.0.1:{port}{ready}", started, " ".join(cmd))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


def load_seconds(out: Path) -> float:
    """A fresh process of OUT's venv loading the model (its imports, unpickling): the floor of any start."""
    code = "import sys; from nbs2i_service.model import load_model; load_model(sys.argv[1])"
    started = time.monotonic()
    subprocess.run([str(out / "venv/bin/python"), "-c", code, str(out)], check=True, cwd="/")
    return time.monotonic() - started


def image_start_to_ready(image: str, env: dict) -> float:
    """Seconds from `podman run` (read-only root, an arbitrary UID, as in deploy/) to ready."""
    port = free_port()
    started = time.monotonic()
    cid = subprocess.run(["podman", "run", "-d", "--read-only", "--user", "1000680000:0", "-e", f"PORT={port}",
                          "-e", "NBS2I_ACCESS_LOG=0", image], env=env, capture_output=True, text=True,
                         check=True).stdout.strip()
    try:
        return _until_ready(f"http://127.0.0.1:{port}/health/ready", started, image)
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "5", cid], env=env, capture_output=True)
