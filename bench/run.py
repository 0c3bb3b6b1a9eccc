"""`make bench`: serving speed, build speed, memory and image sizes of nbs2i against the
tools users would pick instead, in one run on this machine. Writes docs/benchmarks.md and
docs/bench/*.png. Ratios within one run are the figures to trust; absolute numbers drift.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import load, report, servers
from test.helpers import engine_env

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / ".bench"
NBS2I = str(Path(sys.executable).parent / "nbs2i")
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
CONCURRENCY = (1, 8, 32)
MODELS = {  # example -> (sample, MLflow payload, name of the estimator in the notebook)
    "kmeans": ([0.5, 0.5], {"inputs": [[0.5, 0.5]]}, "kmeans"),
    "iris-tree": ({"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2},
                  {"inputs": [[5.1, 3.5, 1.4, 0.2]]}, "tree"),
}


def log(message: str) -> None:
    print(f"---> {message}", file=sys.stderr, flush=True)


# The last landed nbs2i before the build ran cells with IPython in a build environment of
# its own (one venv, cells translated by hand): the "before" of the warm-build comparison.
BEFORE_IPYTHON = "e04e22b"
BUILD_ROUNDS = 3


def build(example: str, out: Path, tool: str = NBS2I, **env: str) -> float:
    started = time.monotonic()
    subprocess.run([tool, "build", str(REPO / "examples" / example), "--out", str(out)], check=True,
                   env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - started


def served_sizes() -> dict:
    """Each example's served venv with every requirement (NBS2I_MINIMAL_ENV=0, as before) and derived
    from the artifact (the default), in MB; and the analysis' cost in seconds."""
    log("served venv sizes: every requirement vs derived from the artifact, for each example")
    sizes = {}
    for example in sorted(p.name for p in (REPO / "examples").iterdir() if any(p.glob("*.ipynb"))):
        row = {}
        for label, minimal in (("every requirement", "0"), ("derived", "1")):
            out = WORK / f"sizes-{example}-{minimal}"
            build(example, out, NBS2I_MINIMAL_ENV=minimal)
            row[label] = sum(f.stat().st_size for f in (out / "venv").rglob("*") if f.is_file() and not f.is_symlink()) / 1e6
            if minimal == "1":
                meta = json.loads((out / "model" / "metadata.json").read_text())
                row["analysis_s"] = meta["build_seconds"]["serving_analysis"]
                row["left_out"] = len(meta.get("left_out_of_serving", []))
        sizes[example] = row
    return sizes


def runtime_image_sizes() -> dict:
    """Runtime-path model images of the examples with every requirement (.s2i/environment sets
    NBS2I_MINIMAL_ENV=0, as before) and derived from the artifact, in MB (podman only).
    name-classifier is left out: its CPU torch comes from this machine's find-links folder,
    which the build container cannot see."""
    if not shutil.which("podman"):
        return {}
    log("runtime images per example: every requirement vs derived from the artifact")
    env = engine_env()
    sizes = {}
    for example in ("kmeans", "iris-tree", "iris-knn", "propensity", "batch-vectorised"):
        row = {}
        for label, minimal in (("every requirement", "0"), ("derived", "1")):
            src = WORK / f"image-src-{example}-{minimal}"
            shutil.rmtree(src, ignore_errors=True)
            shutil.copytree(REPO / "examples" / example, src)
            (src / ".s2i").mkdir(exist_ok=True)
            (src / ".s2i" / "environment").write_text(f"NBS2I_MINIMAL_ENV={minimal}\n")
            tag = f"localhost/nbs2i-bench-{example}-{minimal}"
            subprocess.run([NBS2I, "image", str(src), "--tag", tag], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            size = subprocess.run(["podman", "image", "inspect", "--format", "{{.Size}}", tag], env=env,
                                  capture_output=True, text=True, check=True).stdout
            row[label] = int(size.strip()) / 1e6
            subprocess.run(["podman", "rmi", "-f", tag], env=env, capture_output=True)
        sizes[example] = row
    subprocess.run(["podman", "image", "prune", "-f"], env=env, capture_output=True)
    return sizes


def nbs2i_before() -> str | None:
    """nbs2i as of BEFORE_IPYTHON, in a venv of its own; None when the clone lacks that commit."""
    src, venv = WORK / "before-src", WORK / "before-venv"
    tool = venv / "bin" / "nbs2i"
    if tool.exists():
        return str(tool)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", BEFORE_IPYTHON], capture_output=True)
    if archive.returncode != 0:
        log(f"commit {BEFORE_IPYTHON} is not in this clone: no before/after build comparison")
        return None
    src.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive.stdout, check=True)
    subprocess.run(["uv", "venv", "-q", str(venv)], check=True)
    subprocess.run(["uv", "pip", "install", "-q", "--python", str(venv / "bin" / "python"), "-e", str(src)], check=True)
    return str(tool)


def warm_builds() -> dict:
    """kmeans with a warm cache, before and after the two environments, interleaved in rounds; medians.
    After's own stage timings (metadata.json build_seconds) give the served environment's cost."""
    log(f"warm builds (kmeans): before and after, {BUILD_ROUNDS} interleaved rounds")
    tools = {"after": NBS2I, "before": nbs2i_before()}
    tools = {label: tool for label, tool in tools.items() if tool}
    env = {"NBS2I_CACHE_DIR": str(WORK / "cache-warm")}
    for label, tool in tools.items():  # warm the cache for each
        build("kmeans", WORK / f"warm-{label}", tool, **env)
    seconds: dict[str, list[float]] = {label: [] for label in tools}
    stages: list[dict] = []
    for _ in range(BUILD_ROUNDS):
        for label, tool in tools.items():
            seconds[label].append(build("kmeans", WORK / f"warm-{label}", tool, **env))
            if label == "after":
                meta = json.loads((WORK / "warm-after" / "model" / "metadata.json").read_text())
                stages.append(meta["build_seconds"])
    result = {label: statistics.median(values) for label, values in seconds.items()}
    result["stages"] = {name: statistics.median(s[name] for s in stages) for name in stages[0]}
    return result


def build_times() -> dict:
    log("build times (kmeans): cold and warm, uv and pip")
    times = {}
    for installer in ("uv", "pip"):
        cache = WORK / f"cache-{installer}"
        shutil.rmtree(cache, ignore_errors=True)
        env = {"NBS2I_INSTALLER": installer, "NBS2I_CACHE_DIR": str(cache)}
        times[f"{installer} cold"] = build("kmeans", WORK / f"build-{installer}", **env)
        times[f"{installer} warm"] = build("kmeans", WORK / f"build-{installer}", **env)
    return times


def mlflow_venv() -> Path:
    python = WORK / "mlflow" / "bin" / "python"
    if not python.exists():
        log("creating the MLflow venv (mlflow, the same scikit-learn)")
        subprocess.run(["uv", "venv", "-q", str(WORK / "mlflow")], check=True)
        subprocess.run(["uv", "pip", "install", "-q", "--python", str(python), "mlflow", "scikit-learn==1.5.2",
                        "numpy==1.26.4", "cloudpickle"], check=True)
    return python


ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def interleaved(targets: dict[str, tuple[servers.Server, str, object]], concurrencies=CONCURRENCY) -> dict:
    """Every server up at once, driven in turn, ROUNDS times over; the median of each point.
    These machines drift +-30% within minutes: only servers measured in the same rounds compare."""
    found: dict[str, dict[int, list[load.Result]]] = {label: {c: [] for c in concurrencies} for label in targets}
    for round_ in range(ROUNDS):
        log(f"  round {round_ + 1} of {ROUNDS}")
        for c in concurrencies:
            for label, (server, path, body) in targets.items():
                found[label][c].append(load.run(server.url + path, body, c, SECONDS))
    return {label: {c: _median(results) for c, results in by_c.items()} for label, by_c in found.items()}


def _median(results: list[load.Result]) -> dict:
    return {"rps": statistics.median(r.rps for r in results), "p50_ms": statistics.median(r.p50_ms for r in results),
            "p99_ms": statistics.median(r.p99_ms for r in results), "errors": sum(r.errors for r in results)}


def serving(model: str, out: Path, mlflow_python: Path) -> dict:
    sample, mlflow_body, estimator = MODELS[model]
    cores = os.cpu_count() or 1
    log(f"serving {model}: every server up at once, {ROUNDS} interleaved rounds")
    mlflow_dir = WORK / f"mlflow-{model}"
    shutil.rmtree(mlflow_dir, ignore_errors=True)
    subprocess.run([str(mlflow_python), str(REPO / "bench" / "mlflow_model.py"), str(out), estimator, str(mlflow_dir)],
                   check=True, capture_output=True)
    targets = {
        "nbs2i serve (defaults)": (servers.nbs2i(out), "/predict", sample),
        f"plain Flask + gunicorn ({cores} sync workers, preload)": (servers.plain_flask(out, cores), "/predict", sample),
        "constant gunicorn app (HTTP floor)": (servers.http_floor(out, cores), "/", sample),
        "Flask dev server (prototype)": (servers.flask_dev(out), "/predict", sample),
        "MLflow scoring server (defaults)": (servers.mlflow(mlflow_python, mlflow_dir, None), "/invocations", mlflow_body),
        f"MLflow scoring server ({cores} workers)": (servers.mlflow(mlflow_python, mlflow_dir, cores), "/invocations",
                                                    mlflow_body),
    }
    try:
        rows = interleaved(targets)
        at_rest = {label: servers.memory_mb(targets[label][0]) for label in list(targets)[:2]}
    finally:
        for server, _, _ in targets.values():
            server.stop()
    return {"rows": rows, "predictor_per_s": servers.predictor_rate(out, sample), "memory_at_rest": at_rest}


def batch(out: Path) -> dict:
    """Single /predict requests gathered into batch_predictor calls (the default) against the same
    service with batching off and the HTTP floor, interleaved; then /predict/batch by size."""
    log("batching (batch-vectorised): single requests gathered, against batching off and the HTTP floor")
    sample = {"area_m2": 90, "rooms": 3, "age_years": 20, "distance_km": 5}
    cores = os.cpu_count() or 1
    targets = {"nbs2i serve (batching: the default)": (servers.nbs2i(out), "/predict", sample),
               "nbs2i serve (NBS2I_BATCH_WAIT_MS=0)": (servers.nbs2i(out, env={"NBS2I_BATCH_WAIT_MS": "0"}),
                                                       "/predict", sample),
               "constant gunicorn app (HTTP floor)": (servers.http_floor(out, cores), "/", sample)}
    try:
        rows = interleaved(targets, (8, 32))
        metrics = load.get(targets["nbs2i serve (batching: the default)"][0].url + "/metrics")
        server = targets["nbs2i serve (batching: the default)"][0]
        sizes = {size: load.run(server.url + "/predict/batch", {"instances": [sample] * size}, 8, SECONDS).rps * size
                 for size in (1, 32, 256)}
    finally:
        for server, _, _ in targets.values():
            server.stop()
    return {"rows": rows, "sizes": sizes, "mean_batch": _mean_batch(metrics)}


def _mean_batch(metrics: str) -> float:
    values = dict(line.rsplit(" ", 1) for line in metrics.splitlines() if line.startswith("nbs2i_batch_size_"))
    count = float(values.get("nbs2i_batch_size_count", 0))
    return float(values.get("nbs2i_batch_size_sum", 0)) / count if count else 0.0


def stalled(out: Path) -> dict:
    """kmeans at concurrency 8 with and without 64 clients that sent half a request and wait."""
    log(f"stalled clients (kmeans): c=8 alone and beside 64 stalled connections, {ROUNDS} rounds")
    server = servers.nbs2i(out)
    found: dict[str, list[load.Result]] = {"alone": [], "with 64 stalled clients": []}
    try:
        for _ in range(ROUNDS):
            found["alone"].append(load.run(server.url + "/predict", [0.5, 0.5], 8, SECONDS))
            with load.stalled(server.port, 64):
                found["with 64 stalled clients"].append(load.run(server.url + "/predict", [0.5, 0.5], 8, SECONDS))
    finally:
        server.stop()
    return {label: _median(results) for label, results in found.items()}


def start_to_ready(out: Path) -> dict:
    """Seconds from `nbs2i serve` to the first 200 from /health/ready, against loading the model
    alone (its imports and unpickling) in the same venv: what any server must pay."""
    log(f"start to ready (kmeans), {ROUNDS} rounds")
    serve, bare = [], []
    for _ in range(ROUNDS):
        serve.append(servers.start_to_ready([NBS2I, "serve", str(out)], {"NBS2I_HOST": "127.0.0.1", "NBS2I_ACCESS_LOG": "0"}))
        bare.append(servers.load_seconds(out))
    return {"nbs2i serve": statistics.median(serve), "loading the model alone": statistics.median(bare)}


def memory(out: Path) -> dict:
    log("memory per worker count (kmeans)")
    found = {}
    for workers in (1, 2, 4):
        server = servers.nbs2i(out, workers=workers)
        load.run(server.url + "/predict", [0.5, 0.5], 8, 2)
        found[workers] = servers.memory_mb(server)
        server.stop()
    return found


def threads_effect(out: Path) -> dict:
    log("numeric-library threads per worker (kmeans, concurrency 8)")
    found = {}
    for label, env in (("per-worker share (nbs2i default)", {}),
                       ("one thread per core in every worker", {"OMP_NUM_THREADS": str(os.cpu_count() or 1),
                                                                "OPENBLAS_NUM_THREADS": str(os.cpu_count() or 1)})):
        server = servers.nbs2i(out, env=env)
        found[label] = load.run(server.url + "/predict", [0.5, 0.5], 8, SECONDS).__dict__
        server.stop()
    return found


def image_sizes(results: dict) -> dict:
    """Sizes of the images, building the kmeans model image both ways (podman only)."""
    if not shutil.which("podman"):
        return {}
    log("images: base, nb-builder, nb-runtime, kmeans both ways")
    env = engine_env()
    run = lambda *cmd: subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run(str(REPO / "scripts" / "make-base-image.sh"))
    run("make", "-C", str(REPO), "images", "ENGINE=podman")
    run(NBS2I, "image", str(REPO / "examples" / "kmeans"), "--tag", "localhost/nbs2i-bench-kmeans-rt")
    started = time.monotonic()
    run(NBS2I, "image", str(REPO / "examples" / "kmeans"), "--tag", "localhost/nbs2i-bench-kmeans-ss", "--single-stage",
        "--incremental")
    results["image_build_s"] = {"single stage, first (no previous image)": time.monotonic() - started}
    started = time.monotonic()
    run(NBS2I, "image", str(REPO / "examples" / "kmeans"), "--tag", "localhost/nbs2i-bench-kmeans-ss", "--single-stage",
        "--incremental")
    results["image_build_s"]["single stage, incremental (the previous image's cache)"] = time.monotonic() - started
    du = subprocess.run(["podman", "run", "--rm", "--entrypoint", "du", "localhost/nbs2i-bench-kmeans-rt", "-sk",
                         "/opt/app-root/venv", "/opt/app-root/model", "/opt/app-root/service"],
                        env=env, capture_output=True, text=True, check=True).stdout
    results["payload_mb"] = sum(int(line.split()[0]) for line in du.splitlines()) * 1024 / 1e6
    log(f"runtime image start to ready (kmeans), {ROUNDS} rounds")
    results["image_start_s"] = statistics.median(servers.image_start_to_ready("localhost/nbs2i-bench-kmeans-rt", env)
                                                 for _ in range(ROUNDS))
    engine = "podman"
    sizes = {}
    for image in ("localhost/nbs2i-base:bookworm", "localhost/nb-builder", "localhost/nb-runtime",
                  "localhost/nbs2i-bench-kmeans-rt", "localhost/nbs2i-bench-kmeans-ss"):
        out = subprocess.run([engine, "image", "inspect", "--format", "{{.Size}}", image], env=env,
                             capture_output=True, text=True)
        if out.returncode == 0:
            sizes[image] = int(out.stdout.strip()) / 1e6
    subprocess.run(["podman", "rmi", "-f", "localhost/nbs2i-bench-kmeans-rt", "localhost/nbs2i-bench-kmeans-ss"],
                   env=env, capture_output=True)
    subprocess.run(["podman", "image", "prune", "-f"], env=env, capture_output=True)
    return sizes


def versions(mlflow_python: Path) -> dict:
    def version(python: Path, package: str) -> str:
        code = f"import importlib.metadata as m; print(m.version({package!r}))"
        return subprocess.run([str(python), "-c", code], capture_output=True, text=True).stdout.strip()
    model_python = WORK / "out-kmeans" / "venv" / "bin" / "python"
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return {"python": platform.python_version(), "gunicorn": version(model_python, "gunicorn"),
            "flask": version(model_python, "flask"), "scikit-learn": version(model_python, "scikit-learn"),
            "mlflow": version(mlflow_python, "mlflow"), "wrk": " ".join((wrk.stdout + wrk.stderr).split()[:2])}


PARTS = ("serving", "batch", "stalled", "start", "memory", "threads", "builds", "warm_builds", "served_sizes",
         "images", "runtime_images")


def main() -> None:
    """BENCH_PARTS=serving,batch,... measures only those parts; the others keep the figures of the
    last run that measured them (.bench/results.json), each part dated in the report."""
    WORK.mkdir(exist_ok=True)
    parts = [p for p in os.environ.get("BENCH_PARTS", ",".join(PARTS)).split(",") if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        sys.exit(f"BENCH_PARTS: unknown {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    path = WORK / "results.json"
    results = json.loads(path.read_text()) if path.exists() and set(parts) != set(PARTS) else {}
    mlflow_python = mlflow_venv()
    outs = {name: WORK / f"out-{name}" for name in ("kmeans", "iris-tree", "batch-vectorised")}
    for name, out in outs.items():
        log(f"building {name}")
        build(name, out)
    results.update({
        "machine": {"cores": os.cpu_count(), "platform": platform.platform(), "cpu": report.cpu_model()},
        "versions": versions(mlflow_python), "command": "make bench", "seconds_per_point": SECONDS, "rounds": ROUNDS})
    measured = results.setdefault("measured", {})
    today = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    steps = {"serving": lambda: {m: serving(m, outs[m], mlflow_python) for m in MODELS},
             "batch": lambda: batch(outs["batch-vectorised"]), "stalled": lambda: stalled(outs["kmeans"]),
             "start": lambda: start_to_ready(outs["kmeans"]), "memory": lambda: memory(outs["kmeans"]),
             "threads": lambda: threads_effect(outs["kmeans"]), "builds": build_times, "warm_builds": warm_builds,
             "served_sizes": served_sizes, "images": lambda: image_sizes(results),
             "runtime_images": runtime_image_sizes}
    for part in parts:
        results[part] = steps[part]()
        measured[part] = today
        path.write_text(json.dumps(results, indent=2, default=str))
    report.write(results, REPO / "docs")
    log("wrote docs/benchmarks.md and docs/bench/*.png")


if __name__ == "__main__":
    main()
