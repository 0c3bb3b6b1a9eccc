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


def measure(server: servers.Server, path: str, body: object) -> dict:
    results = {}
    for c in CONCURRENCY:
        r = load.run(server.url + path, body, c, SECONDS)
        results[c] = r.__dict__
    server.stop()
    return results


def serving(model: str, out: Path, mlflow_python: Path) -> dict:
    sample, mlflow_body, estimator = MODELS[model]
    cores = os.cpu_count() or 1
    log(f"serving {model}")
    rows = {
        "nbs2i serve (defaults)": measure(servers.nbs2i(out), "/predict", sample),
        "nbs2i serve (tuned: gthread, 4 threads)": measure(servers.nbs2i(out, workers=cores, threads=4), "/predict", sample),
        "constant gunicorn app (HTTP floor)": measure(servers.http_floor(out, cores), "/", sample),
        "Flask dev server (prototype)": measure(servers.flask_dev(out), "/predict", sample),
    }
    mlflow_dir = WORK / f"mlflow-{model}"
    shutil.rmtree(mlflow_dir, ignore_errors=True)
    subprocess.run([str(mlflow_python), str(REPO / "bench" / "mlflow_model.py"), str(out), estimator, str(mlflow_dir)],
                   check=True, capture_output=True)
    rows["MLflow scoring server (defaults)"] = measure(servers.mlflow(mlflow_python, mlflow_dir, None),
                                                       "/invocations", mlflow_body)
    rows[f"MLflow scoring server ({cores} workers)"] = measure(servers.mlflow(mlflow_python, mlflow_dir, cores),
                                                              "/invocations", mlflow_body)
    return {"rows": rows, "predictor_per_s": servers.predictor_rate(out, sample)}


def batch(out: Path) -> dict:
    log("batch endpoint (batch-vectorised)")
    sample = {"area_m2": 90, "rooms": 3, "age_years": 20, "distance_km": 5}
    server = servers.nbs2i(out)
    found = {"single /predict": load.run(server.url + "/predict", sample, 8, SECONDS).rps}
    for size in (1, 32, 256):
        found[size] = load.run(server.url + "/predict/batch", {"instances": [sample] * size}, 8, SECONDS).rps * size
    server.stop()
    return found


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
    run(str(REPO / "test" / "make-base-image.sh"))
    run("make", "-C", str(REPO), "images", "ENGINE=podman")
    run(NBS2I, "image", str(REPO / "examples" / "kmeans"), "--tag", "localhost/nbs2i-bench-kmeans-rt")
    run(NBS2I, "image", str(REPO / "examples" / "kmeans"), "--tag", "localhost/nbs2i-bench-kmeans-ss", "--single-stage")
    du = subprocess.run(["podman", "run", "--rm", "--entrypoint", "du", "localhost/nbs2i-bench-kmeans-rt", "-sk",
                         "/opt/app-root/venv", "/opt/app-root/model", "/opt/app-root/service"],
                        env=env, capture_output=True, text=True, check=True).stdout
    results["payload_mb"] = sum(int(line.split()[0]) for line in du.splitlines()) * 1024 / 1e6
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


def main() -> None:
    WORK.mkdir(exist_ok=True)
    mlflow_python = mlflow_venv()
    outs = {name: WORK / f"out-{name}" for name in ("kmeans", "iris-tree", "batch-vectorised")}
    for name, out in outs.items():
        log(f"building {name}")
        build(name, out)
    results = {
        "machine": {"cores": os.cpu_count(), "platform": platform.platform(), "cpu": report.cpu_model()},
        "versions": versions(mlflow_python),
        "command": "make bench", "seconds_per_point": SECONDS,
        "serving": {m: serving(m, outs[m], mlflow_python) for m in MODELS},
        "batch": batch(outs["batch-vectorised"]),
        "memory": memory(outs["kmeans"]),
        "threads": threads_effect(outs["kmeans"]),
        "builds": build_times(),
        "warm_builds": warm_builds(),
        "served_sizes": served_sizes(),
    }
    results["images"] = image_sizes(results)
    results["runtime_images"] = runtime_image_sizes()
    (WORK / "results.json").write_text(json.dumps(results, indent=2, default=str))
    report.write(results, REPO / "docs")
    log("wrote docs/benchmarks.md and docs/bench/*.png")


if __name__ == "__main__":
    main()
