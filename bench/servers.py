"""The servers compared: nbs2i serve, the HTTP floors, and the peers a user would pick instead
(MLServer, BentoML, LitServe, MLflow, a plain Flask app, Flask's development server), each from
its own venv with its own defaults (bench/peers.py makes the venvs).

Each runs as its own process on a loopback port and is stopped by its process group.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

PEERS = Path(__file__).parent / "peers"  # the peers' own files: each serves the one model file


THREAD_POOLS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name: str, cmd: list[str], port: int, ready_path: str, env: dict | None = None,
                 cwd: Path | None = None):
        self.name, self.port = name, port
        self.url = f"http://127.0.0.1:{port}"
        full = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        full.update(env or {})
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, env=full, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
                                     cwd=cwd)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"{name} exited {self.proc.returncode}: {' '.join(cmd)}\n"
                                   f"{self.log.read()[-3000:].decode(errors='replace')}")
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
    """`nbs2i serve` as a user runs it: its defaults (access log, drift) unless env says otherwise."""
    port, grpc = free_port(), free_port()  # each on its own gRPC port: many run at once
    extra = {"PORT": str(port), "NBS2I_HOST": "127.0.0.1", "NBS2I_THREADS": str(threads), "NBS2I_GRPC_PORT": str(grpc)}
    if workers:
        extra["WEB_CONCURRENCY"] = str(workers)
    extra.update(env or {})
    cmd = [str(out / "venv/bin/python"), "-m", "gunicorn", "--config", str(out / "service/gunicorn.conf.py")]
    server = Server(f"nbs2i w={workers or 'default'} t={threads}", cmd, port, "/health/ready", extra)
    server.grpc = f"127.0.0.1:{extra['NBS2I_GRPC_PORT']}"
    return server


def constant(python: Path, workers: int, keep_alive: bool) -> Server:
    """The HTTP floor: a constant answer, on gunicorn's gevent worker with keep-alive (as nbs2i
    serves) or its sync worker (which closes every connection)."""
    port = free_port()
    kind = ["-k", "gevent", "--keep-alive", "5"] if keep_alive else ["-k", "sync"]
    cmd = [str(python), "-m", "gunicorn", "-w", str(workers), *kind, "-b", f"127.0.0.1:{port}", "--chdir",
           str(PEERS), "constant_app:app"]
    return Server("constant answer", cmd, port, "/")


def plain_flask(venv: Path, model_file: Path, workers: int) -> Server:
    """The model file in a plain Flask app, gunicorn sync workers, preloaded: the way by hand."""
    port = free_port()
    cmd = [str(venv / "bin/python"), "-m", "gunicorn", "-w", str(workers), "--preload", "-b", f"127.0.0.1:{port}",
           "--chdir", str(PEERS), "plain_flask:app"]
    return Server("plain Flask + gunicorn", cmd, port, "/ping", {"MODEL_FILE": str(model_file)})


def flask_dev(venv: Path, model_file: Path) -> Server:
    """The same app behind Flask's development server: the prototype's way."""
    port = free_port()
    return Server("Flask dev server", [str(venv / "bin/python"), str(PEERS / "plain_flask.py"), str(port)], port, "/ping",
                  {"MODEL_FILE": str(model_file)})


def mlserver(venv: Path, model_file: Path, name: str, workers: int, work: Path) -> tuple[Server, int]:
    """MLServer's scikit-learn runtime on the model file, `parallel_workers` workers; (server, its gRPC port)."""
    port, grpc, metrics = free_port(), free_port(), free_port()
    folder = work / "mlserver"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(model_file, folder / "model.joblib")
    (folder / "model-settings.json").write_text(json.dumps(
        {"name": name, "implementation": "mlserver_sklearn.SKLearnModel", "parameters": {"uri": "./model.joblib"}}))
    (folder / "settings.json").write_text(json.dumps({"host": "127.0.0.1", "http_port": port, "grpc_port": grpc,
                                                       "metrics_port": metrics, "parallel_workers": workers}))
    server = Server("MLServer", [str(venv / "bin/mlserver"), "start", str(folder)], port, f"/v2/models/{name}/ready",
                    cwd=folder)
    return server, grpc


def bentoml(venv: Path, model_file: Path) -> Server:
    port = free_port()
    cmd = [str(venv / "bin/bentoml"), "serve", "bento_service:KMeans", "--host", "127.0.0.1", "--port", str(port)]
    return Server("BentoML", cmd, port, "/readyz", {"MODEL_FILE": str(model_file)}, cwd=PEERS)


def litserve(venv: Path, model_file: Path) -> Server:
    port = free_port()
    return Server("LitServe", [str(venv / "bin/python"), str(PEERS / "lit_service.py"), str(port)], port, "/health",
                  {"MODEL_FILE": str(model_file)}, cwd=PEERS)


def mlflow(venv: Path, model_dir: Path, workers: int | None) -> Server:
    port = free_port()
    cmd = [str(venv / "bin/mlflow"), "models", "serve", "-m", str(model_dir), "--env-manager", "local",
           "-h", "127.0.0.1", "-p", str(port)]
    if workers:
        cmd += ["-w", str(workers)]
    path = f"{venv / 'bin'}:{os.environ.get('PATH', '')}"  # it starts uvicorn from its own venv
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


def predictor_rate(out: Path, sample: object, threads: int, seconds: float = 3.0) -> float:
    """Calls per second of the bare predictor in one process, with the thread pools a worker has."""
    code = ("import json,sys,time; from nbs2i_service.model import load_model;"
            "m=load_model(sys.argv[1]); s=json.loads(sys.argv[2]); f=m.predictor;"
            "[f(s) for _ in range(50)]; n=0; t=time.perf_counter(); end=t+float(sys.argv[3])\n"
            "while time.perf_counter()<end:\n f(s); n+=1\n"
            "print(n/(time.perf_counter()-t))")
    out_text = subprocess.run([str(out / "venv/bin/python"), "-c", code, str(out), json.dumps(sample), str(seconds)],
                              capture_output=True, text=True, check=True,
                              env={**os.environ, **{name: str(threads) for name in THREAD_POOLS}}).stdout
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
    full.setdefault("NBS2I_GRPC_PORT", str(free_port()))
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
                          "-e", f"NBS2I_GRPC_PORT={free_port()}", "-e", "NBS2I_ACCESS_LOG=0", image], env=env, capture_output=True, text=True,
                         check=True).stdout.strip()
    try:
        return _until_ready(f"http://127.0.0.1:{port}/health/ready", started, image)
    finally:
        subprocess.run(["podman", "rm", "-f", "-t", "5", cid], env=env, capture_output=True)
