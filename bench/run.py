"""`make bench`: nbs2i against the floors and the servers users would pick instead, in one run, at
one commit, on this machine. Writes docs/benchmarks.md (bench/report.py) and docs/bench/*.png.

Servers compared with each other are all up at once and driven in turn with wrk, ROUNDS
times over, and each point is the median of its rounds: these machines drift +-30% within
minutes, and only servers measured in the same rounds compare. Every server is checked to
give the expected answer before it is timed. BENCH_PARTS=a,b re-measures some parts; the
report then marks every part of an earlier run or another commit as stale.
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
import urllib.request
from pathlib import Path
from typing import Any, Callable

from bench import calls, load, report, servers, targets, venvs
from test.helpers import engine_env

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / ".bench"
NBS2I = str(Path(sys.executable).parent / "nbs2i")
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CORES = os.cpu_count() or 1
SAMPLE = [0.5, 0.5]
HOUSE = {"area_m2": 90, "rooms": 3, "age_years": 20, "distance_km": 5}
# A notebook whose predictor answers a constant: nbs2i's own cost, apart from any model's.
CONSTANT = ["def predictor(sample):\n    return 0", "example = [0.5, 0.5]"]
ENGINE_ROWS = int(os.environ.get("BENCH_ENGINE_ROWS", "1000000"))


def log(message: str) -> None:
    print(f"---> {message}", file=sys.stderr, flush=True)


def build(example: str | Path, out: Path, **env: str) -> float:
    started = time.monotonic()
    source = example if isinstance(example, Path) else REPO / "examples" / example
    subprocess.run([NBS2I, "build", str(source), "--out", str(out)], check=True, env={**os.environ, **env},
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - started


def _post(url: str, body: Any) -> Any:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


Check = Callable[[Any], bool]
Point = tuple[servers.Server, str, Any, Check, str]  # server, path, body, answer check, kind


def interleaved(points: dict[str, Point], concurrencies=targets.CONCURRENCY) -> dict:
    """Every server checked, then driven in turn at each concurrency, ROUNDS times; the median of each point."""
    for label, (server, path, body, check, _) in points.items():
        answer = _post(server.url + path, body) if body is not None else None
        if body is not None and not check(answer):
            raise RuntimeError(f"{label} answered {answer!r}, not the expected answer: it would not be timed fairly")
    found: dict[str, dict[int, list[load.Result]]] = {label: {c: [] for c in concurrencies} for label in points}
    for number in range(ROUNDS):
        log(f"  round {number + 1} of {ROUNDS}")
        for c in concurrencies:
            for label, (server, path, body, _, _) in points.items():
                found[label][c].append(load.run(server.url + path, body, c, SECONDS))
    return {label: {c: _median(results) for c, results in by_c.items()} for label, by_c in found.items()}


def _median(results: list[load.Result]) -> dict:
    return {"rps": statistics.median(r.rps for r in results), "p50_ms": statistics.median(r.p50_ms for r in results),
            "p99_ms": statistics.median(r.p99_ms for r in results), "errors": sum(r.errors for r in results)}


def _stop(points: dict[str, Point]) -> None:
    for server, *_ in points.values():
        server.stop()


def model_file(out: Path) -> tuple[Path, dict]:
    """The kmeans estimator as one joblib file for every peer, and the answers to expect."""
    target = WORK / "model-kmeans"
    text = subprocess.run([str(out / "venv/bin/python"), str(servers.PEERS / "export_model.py"), str(out), "kmeans",
                           str(target), json.dumps(SAMPLE)], capture_output=True, text=True, check=True).stdout
    return target / "model.joblib", json.loads(text)


def _close(a: Any, b: Any) -> bool:
    return isinstance(a, list) and len(a) == len(b) and all(abs(x - y) < 1e-9 for x, y in zip(a, b))


def serving(outs: dict[str, Path], pins: list[str]) -> dict:
    """kmeans in nbs2i, the floors, a plain Flask app and the peers, each from its own venv."""
    log(f"serving kmeans: every server up at once, {ROUNDS} interleaved rounds")
    out = outs["kmeans"]
    file, expected = model_file(out)
    centre, label = expected["centre"], expected["label"]
    v = {name: venvs.make(WORK, name, pins) for name in venvs.PACKAGES}
    mlflow_dir = WORK / "mlflow-kmeans"
    shutil.rmtree(mlflow_dir, ignore_errors=True)
    subprocess.run([str(v["mlflow"] / "bin/python"), str(servers.PEERS / "mlflow_model.py"), str(file), str(mlflow_dir)],
                   check=True, capture_output=True)
    mls, _ = servers.mlserver(v["mlserver"], file, "kmeans", CORES, WORK)
    v2_body = {"inputs": [{"name": "input-0", "shape": [1, 2], "datatype": "FP64", "data": SAMPLE}]}
    points: dict[str, Point] = {
        targets.NBS2I: (servers.nbs2i(out), "/predict", SAMPLE, lambda a: _close(a["prediction"], centre), "nbs2i"),
        targets.CONSTANT_PREDICTOR: (servers.nbs2i(outs["constant"]), "/predict", SAMPLE,
                                     lambda a: a == {"prediction": 0}, "nbs2i"),
        targets.FLOOR: (servers.constant(out / "venv/bin/python", CORES, True), "/", SAMPLE, lambda a: a == {}, "floor"),
        "constant answer, gunicorn sync workers (closes every connection)": (
            servers.constant(out / "venv/bin/python", CORES, False), "/", SAMPLE, lambda a: a == {}, "floor"),
        f"plain Flask app, gunicorn {CORES} sync workers, preload": (
            servers.plain_flask(v["flask"], file, CORES), "/predict", SAMPLE, lambda a: _close(a["prediction"], centre),
            "plain"),
        "Flask development server (the prototype)": (servers.flask_dev(v["flask"], file), "/predict", SAMPLE,
                                                     lambda a: _close(a["prediction"], centre), "peer"),
        f"MLServer, scikit-learn runtime, {CORES} workers (V2)": (
            mls, "/v2/models/kmeans/infer", v2_body, lambda a: a["outputs"][0]["data"] == [label], "peer"),
        f"BentoML ({CORES} workers)": (servers.bentoml(v["bentoml"], file), "/predict", {"sample": SAMPLE},
                                       lambda a: _close(a, centre), "peer"),
        f"LitServe ({CORES} workers)": (servers.litserve(v["litserve"], file), "/predict", {"input": SAMPLE},
                                        lambda a: _close(a["prediction"], centre), "peer"),
        f"MLflow scoring server ({CORES} workers)": (servers.mlflow(v["mlflow"], mlflow_dir, CORES), "/invocations",
                                                     {"inputs": [SAMPLE]}, lambda a: a["predictions"] == [label], "peer"),
    }
    try:
        rows = interleaved(points)
        rest = {label: servers.memory_mb(points[label][0]) for label in points if points[label][4] in ("nbs2i", "plain")}
    finally:
        _stop(points)
    threads = max(1, CORES // CORES)  # a worker's share of the cores, as gunicorn.conf.py gives it
    return {"rows": rows, "kinds": {label: point[4] for label, point in points.items()}, "memory_at_rest": rest,
            "predictor_per_s": servers.predictor_rate(out, SAMPLE, threads),
            "versions": {name: venvs.version(venv, name if name != "flask" else "flask") for name, venv in v.items()}}


INFER = "/inference.GRPCInferenceService/ModelInfer"


def _infer_message(model: str) -> bytes:
    """The kmeans sample as a ModelInferRequest (typed contents), serialized once."""
    from tritonclient.grpc import service_pb2

    asked = service_pb2.ModelInferRequest(model_name=model)
    tensor = asked.inputs.add(name="input-0", datatype="FP64", shape=[1, 2])
    tensor.contents.fp64_contents.extend(SAMPLE)
    return asked.SerializeToString()


def _grpc_answer(target: str, payload: bytes) -> list:
    import grpc
    from tritonclient.grpc import service_pb2

    with grpc.insecure_channel(target) as channel:
        answer = service_pb2.ModelInferResponse.FromString(channel.unary_unary(INFER)(payload, timeout=30))
    contents = answer.outputs[0].contents
    return list(contents.fp64_contents) or list(contents.int64_contents) or list(contents.int_contents)


def grpc_part(out: Path, pins: list[str]) -> dict:
    """The Open Inference Protocol at c=8: gRPC ModelInfer against REST V2 infer, nbs2i and MLServer,
    every point driven by the same client (bench/calls.py), interleaved rounds, medians."""
    log(f"gRPC (kmeans): ModelInfer and REST V2 infer, nbs2i and MLServer, c=8, {ROUNDS} interleaved rounds")
    file, expected = model_file(out)
    mls, mls_grpc = servers.mlserver(venvs.make(WORK, "mlserver", pins), file, "kmeans", CORES, WORK)
    ours = servers.nbs2i(out)
    name = json.loads(load.get(ours.url + "/metadata"))["model_name"]
    rest = json.dumps({"inputs": [{"name": "input-0", "shape": [1, 2], "datatype": "FP64", "data": SAMPLE}]}).encode()
    points = {"nbs2i, gRPC ModelInfer": ("grpc", ours.grpc, INFER, _infer_message(name)),
              "nbs2i, REST V2 infer": ("http", f"127.0.0.1:{ours.port}", f"/v2/models/{name}/infer", rest),
              f"MLServer ({CORES} workers), gRPC ModelInfer": ("grpc", f"127.0.0.1:{mls_grpc}", INFER,
                                                               _infer_message("kmeans")),
              f"MLServer ({CORES} workers), REST V2 infer": ("http", f"127.0.0.1:{mls.port}", "/v2/models/kmeans/infer",
                                                             rest)}
    try:
        if not _close(_grpc_answer(ours.grpc, points["nbs2i, gRPC ModelInfer"][3]), expected["centre"]) or \
                _grpc_answer(f"127.0.0.1:{mls_grpc}", _infer_message("kmeans")) != [expected["label"]]:
            raise RuntimeError("a gRPC server did not answer the expected prediction: it would not be timed fairly")
        found: dict[str, list] = {label: [] for label in points}
        for number in range(ROUNDS):
            log(f"  round {number + 1} of {ROUNDS}")
            for label, (kind, target, path, payload) in points.items():
                found[label].append(calls.run(kind, target, path, payload, 8, SECONDS))
    finally:
        ours.stop()
        mls.stop()
    return {"rows": {label: {8: _median(results)} for label, results in found.items()},
            "mlserver": venvs.version(venvs.make(WORK, "mlserver", pins), "mlserver")}


def _engine_rows(folder: Path) -> tuple[Path, Path]:
    """ENGINE_ROWS points, the first SAMPLE, as JSON Lines (nbs2i score) and Parquet (the engines)."""
    import numpy as np
    import pandas as pd

    jsonl, parquet = folder / f"points-{ENGINE_ROWS}.jsonl", folder / f"points-{ENGINE_ROWS}.parquet"
    if not parquet.exists():
        points = np.random.default_rng(7).random((ENGINE_ROWS, 2))
        points[0] = SAMPLE
        with jsonl.open("w") as file:
            file.writelines(f"[{x!r}, {y!r}]\n" for x, y in points.tolist())
        # row groups of 1/16 of the rows, as a table Spark wrote would have: a single one would be one task
        pd.DataFrame(points, columns=["x", "y"]).to_parquet(parquet, row_group_size=max(1, ENGINE_ROWS // 16))
    return jsonl, parquet


def _written(target: Path) -> list[dict]:
    files = [target] if target.is_file() else sorted(p for p in target.glob("*.json*") if not p.name.startswith("."))
    return [json.loads(line) for part in files for line in part.read_text().splitlines()]


def engines(out: Path, pins: list[str]) -> dict:
    """Rows per second scoring ENGINE_ROWS kmeans points from a file to a file, start to end (engine
    start included): nbs2i score in one process, nbs2i on Spark local[CORES] and on Ray (`nbs2i score
    --engine`), and MLflow's spark_udf on the same model in its own venv; interleaved rounds, medians."""
    log(f"engines (kmeans): {ENGINE_ROWS:,} rows, nbs2i score, Spark, Ray and MLflow's spark_udf, {ROUNDS} rounds")
    folder = WORK / "engines"
    folder.mkdir(exist_ok=True)
    jsonl, parquet = _engine_rows(folder)
    file, expected = model_file(out)
    mlflow_venv = venvs.make(WORK, "mlflow-spark", pins)
    mlflow_dir = WORK / "mlflow-kmeans-spark"
    shutil.rmtree(mlflow_dir, ignore_errors=True)
    subprocess.run([str(mlflow_venv / "bin/python"), str(servers.PEERS / "mlflow_model.py"), str(file),
                    str(mlflow_dir)], check=True, capture_output=True)
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "RAY_USAGE_STATS_ENABLED": "0"}
    runs = {"nbs2i score (one process)": [NBS2I, "score", str(out), "--input", str(jsonl)],
            f"nbs2i on Spark local[{CORES}]": [NBS2I, "score", str(out), "--engine", "spark", "--master",
                                                f"local[{CORES}]", "--input", str(parquet)],
            f"nbs2i on Ray ({max(1, CORES - 1)} actors)": [NBS2I, "score", str(out), "--engine", "ray", "--input",
                                                            str(parquet)],
            f"MLflow spark_udf, Spark local[{CORES}]": [str(mlflow_venv / "bin/python"),
                                                        str(servers.PEERS / "mlflow_spark.py"), str(mlflow_dir),
                                                        str(parquet)]}
    seconds: dict[str, list[float]] = {label: [] for label in runs}
    for number in range(ROUNDS):
        log(f"  round {number + 1} of {ROUNDS}")
        for label, command in runs.items():
            target = folder / f"scored-{len(seconds[label])}"
            shutil.rmtree(target, ignore_errors=True)
            target.unlink(missing_ok=True)
            mlflow = label.startswith("MLflow")
            command = [*command, str(target), str(CORES)] if mlflow else [*command, "--output", str(target)]
            started = time.monotonic()
            done = subprocess.run(command, env={**env, "PYSPARK_PYTHON": command[0]} if mlflow else env,
                                  capture_output=True, text=True)
            seconds[label].append(time.monotonic() - started)
            if done.returncode != 0:
                raise RuntimeError(f"{label} failed: {done.stderr[-2000:]}")
            if mlflow:  # the labels; the first row is SAMPLE
                found = json.loads(done.stdout.strip().splitlines()[-1])
                ok = found["rows"] == ENGINE_ROWS and found["first"] == expected["label"]
            else:
                records = _written(target)
                answers = [r.get("prediction") for r in records]
                answers = [json.loads(a) if isinstance(a, str) else a for a in answers]
                ordered = "Ray" not in label  # Ray writes its blocks in no set order
                ok = len(records) == ENGINE_ROWS and not any(r.get("error") for r in records) and (
                    _close(answers[0], expected["centre"]) if ordered else
                    any(_close(a, expected["centre"]) for a in answers))
            if not ok:
                raise RuntimeError(f"{label} did not score every row as the model does: it would not be timed fairly")
            shutil.rmtree(target, ignore_errors=True)
            target.unlink(missing_ok=True)
    return {"rows": ENGINE_ROWS, "cores": CORES,
            "rows_per_second": {label: ENGINE_ROWS / statistics.median(s) for label, s in seconds.items()},
            "seconds": {label: statistics.median(s) for label, s in seconds.items()},
            "versions": {"pyspark": venvs.version(Path(sys.prefix), "pyspark"), "ray": venvs.version(Path(sys.prefix), "ray"),
                         "mlflow": venvs.version(mlflow_venv, "mlflow")}}


def batching(out: Path) -> dict:
    """Single /predict requests gathered into batch_predictor calls (the default) against batching
    off and the keep-alive floor, at every concurrency; then /predict/batch by size."""
    log("batching (batch-vectorised): gathered single requests against batching off and the floor")
    ok = lambda a: isinstance(a.get("prediction"), float)
    points: dict[str, Point] = {
        "batching on (the default)": (servers.nbs2i(out), "/predict", HOUSE, ok, "nbs2i"),
        "batching off (NBS2I_BATCH_WAIT_MS=0)": (servers.nbs2i(out, env={"NBS2I_BATCH_WAIT_MS": "0"}), "/predict",
                                                 HOUSE, ok, "nbs2i"),
        targets.FLOOR: (servers.constant(out / "venv/bin/python", CORES, True), "/", HOUSE, lambda a: a == {}, "floor")}
    try:
        rows = interleaved(points)
        server = points["batching on (the default)"][0]
        metrics = load.get(server.url + "/metrics")
        sizes = {size: load.run(server.url + "/predict/batch", {"instances": [HOUSE] * size}, 8, SECONDS).rps * size
                 for size in (1, 32, 256)}
    finally:
        _stop(points)
    return {"rows": rows, "sizes": sizes, "mean_batch": _mean_batch(metrics)}


def _mean_batch(metrics: str) -> float:
    values = dict(line.rsplit(" ", 1) for line in metrics.splitlines() if line.startswith("nbs2i_batch_size_"))
    count = float(values.get("nbs2i_batch_size_count", 0))
    return float(values.get("nbs2i_batch_size_sum", 0)) / count if count else 0.0


def day_two(out: Path) -> dict:
    """What drift (on by default) and payload logging cost: kmeans at c=8 against both off."""
    log("day two (kmeans): drift and payload logging, on and off")
    sink = servers.constant(out / "venv/bin/python", 1, True)  # a CloudEvents receiver that takes every event
    ok = lambda a: "prediction" in a
    points: dict[str, Point] = {
        "drift off, no payload log": (servers.nbs2i(out, env={"NBS2I_DRIFT": "0"}), "/predict", SAMPLE, ok, "nbs2i"),
        "drift on (the default)": (servers.nbs2i(out), "/predict", SAMPLE, ok, "nbs2i"),
        "drift on, payload log to a receiver": (servers.nbs2i(out, env={"NBS2I_LOG_URL": sink.url + "/"}), "/predict",
                                                SAMPLE, ok, "nbs2i")}
    try:
        rows = interleaved(points, (8,))
        logged = load.get(points["drift on, payload log to a receiver"][0].url + "/metrics")
    finally:
        _stop(points)
        sink.stop()
    events = {line.split('"')[1]: float(line.rsplit(" ", 1)[1]) for line in logged.splitlines()
              if line.startswith("nbs2i_payload_log_events_total{")}
    return {"rows": rows, "payload_events": events}


def stalled(out: Path) -> dict:
    """kmeans at concurrency 8 with and without 64 clients that sent half a request and wait."""
    log(f"stalled clients (kmeans): c=8 alone and beside 64 stalled connections, {ROUNDS} rounds")
    server = servers.nbs2i(out)
    found: dict[str, list[load.Result]] = {"alone": [], "with 64 stalled clients": []}
    try:
        for _ in range(ROUNDS):
            found["alone"].append(load.run(server.url + "/predict", SAMPLE, 8, SECONDS))
            with load.stalled(server.port, 64):
                found["with 64 stalled clients"].append(load.run(server.url + "/predict", SAMPLE, 8, SECONDS))
    finally:
        server.stop()
    return {label: _median(results) for label, results in found.items()}


def start_to_ready(out: Path) -> dict:
    """Seconds from `nbs2i serve` to its first 200 from /health/ready, against loading the model alone."""
    log(f"start to ready (kmeans), {ROUNDS} rounds")
    serve, bare = [], []
    for _ in range(ROUNDS):
        serve.append(servers.start_to_ready([NBS2I, "serve", str(out)], {"NBS2I_HOST": "127.0.0.1"}))
        bare.append(servers.load_seconds(out))
    return {"nbs2i serve": statistics.median(serve), "loading the model alone": statistics.median(bare)}


def memory(out: Path) -> dict:
    log("memory per worker count (kmeans)")
    found = {}
    for workers in (1, 2, 4):
        server = servers.nbs2i(out, workers=workers)
        load.run(server.url + "/predict", SAMPLE, 8, 2)
        found[workers] = servers.memory_mb(server)
        server.stop()
    return found


def rebuild() -> dict:
    """Warm rebuilds of kmeans, ROUNDS of them, split by stage (metadata.json build_seconds); medians."""
    log(f"warm rebuilds (kmeans), {ROUNDS} rounds")
    out, env = WORK / "rebuild-kmeans", {"NBS2I_CACHE_DIR": str(WORK / "cache-warm")}
    build("kmeans", out, **env)  # the cache, and everything a rebuild may keep, warm
    totals, stages, cells = [], [], []
    for _ in range(ROUNDS):
        totals.append(build("kmeans", out, **env))
        meta = json.loads((out / "model" / "metadata.json").read_text())
        stages.append(meta["build_seconds"])
        cells.append(meta["build_seconds"]["cells"])
    names = [name for name in stages[0] if name != "cells"]
    return {"total": statistics.median(totals), "cells": statistics.median(cells),
            "stages": {name: statistics.median(s.get(name, 0.0) for s in stages) for name in names}}


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


def served_sizes() -> dict:
    """Each example's served venv with every requirement (NBS2I_MINIMAL_ENV=0) and derived from the artifact, in MB."""
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


def images() -> dict:
    """Image sizes and the kmeans runtime image's start, with podman (none without it)."""
    if not shutil.which("podman"):
        return {}
    log("images: base, nb-builder, nb-runtime, the kmeans model image")
    env = engine_env()
    run = lambda *cmd: subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run(str(REPO / "scripts" / "make-base-image.sh"))
    run("make", "-C", str(REPO), "images", "ENGINE=podman")
    tag = "localhost/nbs2i-bench-kmeans-rt"
    run(NBS2I, "image", str(REPO / "examples" / "kmeans"), "--tag", tag)
    du = subprocess.run(["podman", "run", "--rm", "--entrypoint", "du", tag, "-sk", "/opt/app-root/venv",
                         "/opt/app-root/model", "/opt/app-root/service"], env=env, capture_output=True, text=True,
                        check=True).stdout
    found = {"payload_mb": sum(int(line.split()[0]) for line in du.splitlines()) * 1024 / 1e6,
             "start_s": statistics.median(servers.image_start_to_ready(tag, env) for _ in range(ROUNDS)), "sizes": {}}
    for image in ("localhost/nbs2i-base:bookworm", "localhost/nb-builder", "localhost/nb-runtime", tag):
        size = subprocess.run(["podman", "image", "inspect", "--format", "{{.Size}}", image], env=env,
                              capture_output=True, text=True)
        if size.returncode == 0:
            found["sizes"][image] = int(size.stdout.strip()) / 1e6
    subprocess.run(["podman", "rmi", "-f", tag], env=env, capture_output=True)
    subprocess.run(["podman", "image", "prune", "-f"], env=env, capture_output=True)
    return found


def commit() -> str:
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return f"{head}{' (with uncommitted changes)' if dirty else ''}"


PARTS = ("serving", "grpc", "engines", "batching", "day_two", "stalled", "start", "memory", "rebuild", "builds", "served_sizes", "images")


def main() -> None:
    WORK.mkdir(exist_ok=True)
    parts = [p for p in os.environ.get("BENCH_PARTS", ",".join(PARTS)).split(",") if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        sys.exit(f"BENCH_PARTS: unknown {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    path = WORK / "results.json"
    results = json.loads(path.read_text()) if path.exists() and set(parts) != set(PARTS) else {}
    run = {"commit": commit(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "machine": {"cores": CORES, "platform": platform.platform(), "cpu": report.cpu_model()},
           "python": platform.python_version(), "seconds_per_point": SECONDS, "rounds": ROUNDS}
    results["run"] = run
    outs = {name: WORK / f"out-{name}" for name in ("kmeans", "batch-vectorised")}
    for name, out in outs.items():
        log(f"building {name}")
        build(name, out)
    constant_src = WORK / "constant-src"
    from test.helpers import write_notebook  # a notebook made in code, as the tests make theirs

    write_notebook(constant_src, *CONSTANT)
    outs["constant"] = WORK / "out-constant"
    build(constant_src, outs["constant"])
    pins = venvs.model_pins(outs["kmeans"])
    steps = {"serving": lambda: serving(outs, pins), "grpc": lambda: grpc_part(outs["kmeans"], pins),
             "engines": lambda: engines(outs["kmeans"], pins),
             "batching": lambda: batching(outs["batch-vectorised"]),
             "day_two": lambda: day_two(outs["kmeans"]), "stalled": lambda: stalled(outs["kmeans"]),
             "start": lambda: start_to_ready(outs["kmeans"]), "memory": lambda: memory(outs["kmeans"]),
             "rebuild": rebuild, "builds": build_times, "served_sizes": served_sizes, "images": images}
    results.setdefault("parts", {})
    for part in parts:
        results["parts"][part] = {"measured": {"commit": run["commit"], "date": run["date"]}, **steps[part]()}
        path.write_text(json.dumps(results, indent=2, default=str))
    report.write(results, REPO / "docs")
    log("wrote docs/benchmarks.md and docs/bench/*.png")


if __name__ == "__main__":
    main()
