"""docs/benchmarks.md and its plots from one run's results (bench/run.py)."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bench import mutation  # noqa: E402


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def _verdict(ok: bool, text: str) -> str:
    return f"| {'met' if ok else '**missed**'} | {text} |"


def _serving_table(model: str, data: dict) -> list[str]:
    lines = [f"### {model}", "", "| server | c=1 req/s | c=1 p50 / p99 ms | c=8 req/s | c=8 p50 / p99 ms | c=32 req/s | c=32 p50 / p99 ms |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, by_c in data["rows"].items():
        cells = []
        for c in ("1", "8", "32"):
            r = by_c[c] if c in by_c else by_c[int(c)]
            cells += [f"{r['rps']:,.0f}" + (f" ({r['errors']} errors)" if r["errors"] else ""),
                      f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", f"Bare predictor in one process: {data['predictor_per_s']:,.0f} calls/s.", ""]
    return lines


def _at(row: dict, c: int) -> dict:
    return row.get(c) or row.get(str(c))


def _row(rows: dict, prefix: str) -> dict:
    return next(by_c for name, by_c in rows.items() if name.startswith(prefix))


def _serving_targets(results: dict) -> list[str]:
    cores = results["machine"]["cores"]
    km = results["serving"]["kmeans"]
    rows = km["rows"]
    ours = _at(rows["nbs2i serve (defaults)"], 8)
    http = _at(rows["constant gunicorn app (HTTP floor)"], 8)["rps"]
    floor = 1 / (1 / http + 1 / (cores * km["predictor_per_s"]))
    plain = _at(_row(rows, "plain Flask"), 8)
    ml_default = _at(rows["MLflow scoring server (defaults)"], 8)
    ml_best = _at(rows[f"MLflow scoring server ({cores} workers)"], 8)
    dev = _at(rows["Flask dev server (prototype)"], 8)
    others_p99 = max(r["p99_ms"] for r in (ml_default, ml_best, dev, plain))
    lines = [_verdict(ours["rps"] >= 0.8 * floor, f"nbs2i {ours['rps']:,.0f} req/s = {ours['rps'] / floor:.0%} of the combined "
                      f"floor {floor:,.0f} (1 / (1/{http:,.0f} + 1/({cores} x {km['predictor_per_s']:,.0f}))); goal 80%"),
             _verdict(ours["rps"] >= 1.3 * plain["rps"], f"{ours['rps'] / plain['rps']:.2f}x a plain Flask app under gunicorn "
                      f"({plain['rps']:,.0f} req/s); goal 1.3x"),
             _verdict(ours["p99_ms"] < 10, f"nbs2i p99 {ours['p99_ms']:.2f} ms; goal under 10 ms"),
             _verdict(ours["rps"] >= 5 * ml_default["rps"], f"{ours['rps'] / ml_default['rps']:.1f}x MLflow with its defaults; goal 5x"),
             _verdict(ours["rps"] >= 2.5 * ml_best["rps"], f"{ours['rps'] / ml_best['rps']:.1f}x MLflow with {cores} workers; goal 2.5x"),
             _verdict(ours["rps"] >= 4 * dev["rps"], f"{ours['rps'] / dev['rps']:.1f}x Flask's development server; goal 4x"),
             _verdict(ours["p99_ms"] <= others_p99, f"p99 {ours['p99_ms']:.2f} ms vs the worst alternative's {others_p99:.2f} ms; "
                      "goal no worse than any")]
    rest = km.get("memory_at_rest")
    if rest:
        (nb_pss, _), (plain_pss, _) = rest["nbs2i serve (defaults)"], next(v for k, v in rest.items() if k.startswith("plain"))
        lines.append(_verdict(nb_pss < plain_pss, f"memory at rest, {cores} workers: nbs2i {nb_pss:.0f} MB PSS, plain Flask + "
                              f"gunicorn {plain_pss:.0f} MB; goal below plain Flask's"))
    return lines


def _service_targets(results: dict) -> list[str]:
    lines = []
    batch = results.get("batch", {})
    if "rows" in batch:
        ours = _at(batch["rows"]["nbs2i serve (batching: the default)"], 32)
        floor = _at(batch["rows"]["constant gunicorn app (HTTP floor)"], 32)["rps"]
        lines.append(_verdict(ours["rps"] >= 0.8 * floor, f"batch-vectorised at c=32, single requests gathered into batches "
                              f"(mean {batch['mean_batch']:.1f} samples): {ours['rps']:,.0f} req/s = {ours['rps'] / floor:.0%} "
                              f"of the constant-answer floor {floor:,.0f}; goal 80%"))
        single = _at(batch["rows"]["nbs2i serve (batching: the default)"], 8)["rps"]
        b256 = _at(batch["sizes"], 256)
        lines.append(_verdict(b256 >= 20 * single, f"batch of 256 with batch_predictor: {b256:,.0f} predictions/s = "
                              f"{b256 / single:.0f}x single requests; goal 20x"))
    stalled = results.get("stalled")
    if stalled:
        alone, beside = stalled["alone"]["rps"], stalled["with 64 stalled clients"]["rps"]
        lines.append(_verdict(beside >= 0.9 * alone, f"with 64 stalled clients open, kmeans c=8 {beside:,.0f} req/s vs "
                              f"{alone:,.0f} alone ({beside / alone - 1:+.0%}); goal a fall under 10%"))
    start = results.get("start")
    if start:
        serve, bare = start["nbs2i serve"], start["loading the model alone"]
        lines.append(_verdict(serve <= bare + 0.5, f"`nbs2i serve` of kmeans ready in {serve:.2f} s; loading the model alone "
                              f"takes {bare:.2f} s; goal within 0.5 s of it"))
    if results.get("image_start_s"):
        lines.append(f"| (reported) | the kmeans runtime image, read-only root, ready {results['image_start_s']:.2f} s after "
                     "`podman run` (most of it podman's vfs storage copying the image into the container) |")
    return lines


def _targets(results: dict) -> list[str]:
    builds = results["builds"]
    lines = ["| result | target (kmeans, concurrency 8, unless said) |", "| --- | --- |"]
    lines += _serving_targets(results) + _service_targets(results)
    lines += [_verdict(builds["uv warm"] < 15, f"warm rebuild {builds['uv warm']:.1f} s; goal under 15 s"),
              _verdict(builds["pip cold"] >= 3 * builds["uv cold"], f"cold build: uv {builds['uv cold']:.1f} s, pip "
                       f"{builds['pip cold']:.1f} s = {builds['pip cold'] / builds['uv cold']:.1f}x; goal 3x")]
    warm = results.get("warm_builds")
    if warm and "serving_analysis" in warm["stages"]:
        analysis = warm["stages"]["serving_analysis"]
        lines.append(_verdict(analysis < 2, f"finding what serving needs costs {analysis:.1f} s of a warm kmeans build; "
                              "goal under 2 s"))
    if warm:
        served = warm["stages"]["served_environment"]
        lines.append(_verdict(served <= 3, f"the second (served) environment costs {served:.1f} s of a warm kmeans build; "
                              "goal at most 3 s"))
    images = results.get("images", {})
    rt = images.get("localhost/nbs2i-bench-kmeans-rt")
    base = images.get("localhost/nbs2i-base:bookworm")
    if rt and base and results.get("payload_mb"):
        limit = base + results["payload_mb"] + 5
        lines.append(_verdict(rt <= limit, f"runtime-path image {rt:.0f} MB vs base {base:.0f} + venv/model/service "
                              f"{results['payload_mb']:.0f} + 5 = {limit:.0f} MB"))
    return lines


def _limits(results: dict) -> list[str]:
    """Where the serving time goes, from this run's own numbers."""
    cores = results["machine"]["cores"]
    km = results["serving"]["kmeans"]
    rows = km["rows"]
    ours = _at(rows["nbs2i serve (defaults)"], 8)
    http_us = cores / _at(rows["constant gunicorn app (HTTP floor)"], 8)["rps"] * 1e6
    predictor_us = 1e6 / km["predictor_per_s"]
    ours_us = cores / ours["rps"] * 1e6
    ml = _at(rows[f"MLflow scoring server ({cores} workers)"], 8)
    return ["## Where the time goes", "",
            f"- CPU per kmeans request at concurrency 8 (both cores, wrk included): constant-answer gunicorn app "
            f"{http_us:.0f} us, bare predictor {predictor_us:.0f} us, nbs2i {ours_us:.0f} us. The constant app runs "
            "gunicorn's sync worker, which closes the connection after every answer; nbs2i's gevent worker keeps "
            "connections alive and answers /predict on its hot path (no Flask request machinery), which is how it "
            "passes the sum of the two.",
            f"- MLflow with {cores} uvicorn workers answers at about {ml['p50_ms']:.0f} ms median even at low load here, "
            "the delayed-ACK stall of a server without TCP_NODELAY; its ratio is therefore flattering to us, and the "
            "ratio to MLflow's defaults is the fair one.",
            f"- Build: a kmeans build spends about {results['builds']['uv warm']:.0f} s even warm (venv, running the "
            "notebook, the smoke test), the same for both installers; that shared part, and a package proxy on this "
            "machine that keeps 'cold' downloads fast, cap the uv/pip ratio of whole builds.", ""]


def _plot(results: dict, target: Path) -> list[str]:
    names = []
    for model, data in results["serving"].items():
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
        for name, by_c in data["rows"].items():
            cs = sorted(int(c) for c in by_c)
            ax1.plot(cs, [by_c.get(c, by_c.get(str(c)))["rps"] for c in cs], marker="o", label=name)
            ax2.plot(cs, [by_c.get(c, by_c.get(str(c)))["p99_ms"] for c in cs], marker="o", label=name)
        ax1.set(xscale="log", xlabel="concurrent connections", ylabel="requests/s", title=f"{model}: throughput")
        ax2.set(xscale="log", yscale="log", xlabel="concurrent connections", ylabel="p99 latency (ms)", title=f"{model}: p99")
        ax1.legend(fontsize=7)
        fig.suptitle(f"{results['machine']['cores']} cores, {results['machine']['cpu']}", fontsize=8)
        fig.tight_layout()
        name = f"serving-{model}.png"
        fig.savefig(target / name, dpi=110)
        plt.close(fig)
        names.append(name)
    return names


def write(results: dict, docs: Path) -> None:
    plots = docs / "bench"
    plots.mkdir(parents=True, exist_ok=True)
    images = _plot(results, plots)
    m, v = results["machine"], results["versions"]
    lines = ["# Benchmarks", "",
             f"Produced by `{results['command']}` (bench/run.py) in one run on {m['cores']} cores ({m['cpu']}; {m['platform']}). "
             f"Python {v['python']}, gunicorn {v['gunicorn']}, Flask {v['flask']}, scikit-learn {v['scikit-learn']}, "
             f"MLflow {v['mlflow']}, {v['wrk']}. Each point is {results['seconds_per_point']} s of wrk (a separate process on the "
             "same cores) after a 1 s warm-up; servers compared with each other are all up at once and driven in turn, "
             f"{results.get('rounds', 1)} rounds, medians. Absolute numbers drift between runs on shared machines; the "
             "ratios within one part are what to compare.", ""]
    if results.get("measured"):
        lines += ["Parts and when they were measured (`BENCH_PARTS=... make bench` re-measures some): "
                  + ", ".join(f"{part} {when}" for part, when in results["measured"].items()) + ".", ""]
    lines += ["## Targets", ""]
    lines += _targets(results) + [""] + _limits(results) + ["## Serving", ""]
    for model, data in results["serving"].items():
        lines += _serving_table(model, data)
    lines += [f"![{name}](bench/{name})" for name in images] + [""]
    lines += ["Memory at rest after the rounds (PSS of all processes, MB): " + ", ".join(
        f"{label} {pss:.0f}" for m in results["serving"].values() for label, (pss, _) in m.get("memory_at_rest", {}).items())
        + ".", ""] if any("memory_at_rest" in m for m in results["serving"].values()) else []
    batch = results["batch"]
    if "rows" in batch:
        lines += ["## Batching (examples/batch-vectorised, single /predict requests)", "",
                  "| server | c=8 req/s | c=8 p50 / p99 ms | c=32 req/s | c=32 p50 / p99 ms |", "| --- | --- | --- | --- | --- |"]
        for name, by_c in batch["rows"].items():
            cells = []
            for c in (8, 32):
                r = _at(by_c, c)
                cells += [f"{r['rps']:,.0f}", f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f}"]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines += ["", f"Mean batch gathered by the default service: {batch['mean_batch']:.1f} samples "
                  "(nbs2i_batch_size in /metrics).", "",
                  "### /predict/batch (concurrency 8)", "", "| request | predictions/s |", "| --- | --- |"]
        lines += [f"| /predict/batch, {size} instances | {_at(batch['sizes'], size):,.0f} |" for size in (1, 32, 256)]
    if results.get("stalled"):
        lines += ["", "## Stalled clients (kmeans, concurrency 8)", "", "| condition | req/s | p99 ms |", "| --- | --- | --- |"]
        lines += [f"| {label} | {r['rps']:,.0f} | {r['p99_ms']:.2f} |" for label, r in results["stalled"].items()]
        lines += ["", "Each stalled client sent its headers and part of a body, then waits (it is answered 408 after "
                  "NBS2I_CLIENT_TIMEOUT, 30 s)."]
    if results.get("start"):
        lines += ["", "## Start to ready (kmeans)", "", "| what | seconds (median) |", "| --- | --- |"]
        lines += [f"| {label} | {value:.2f} |" for label, value in results["start"].items()]
        if results.get("image_start_s"):
            lines.append(f"| the runtime image (`podman run --read-only`, an arbitrary UID) | {results['image_start_s']:.2f} |")
        lines += ["", "Loading the model alone: a fresh process of OUT/venv importing what the model needs and "
                  "unpickling it, the floor of any server's start. The build compiles to bytecode what serving "
                  "imports (nbs2i_service/smoke.py), so neither a start nor a read-only image compiles it again. "
                  "The image's time is podman's here: with vfs storage (the only driver these machines allow) "
                  "creating a container copies every file of the image first; overlay storage does not."]
    lines += ["", "## Memory (kmeans, after load)", "", "| workers | PSS, all processes (MB) | RSS sum (MB) |", "| --- | --- | --- |"]
    for workers, (pss, rss) in results["memory"].items():
        lines.append(f"| {workers} | {pss:.0f} | {rss:.0f} |")
    lines += ["", "PSS counts pages shared copy-on-write by the workers once: the model is loaded in the master "
              "before forking (preload), so each extra worker costs far less than its RSS suggests.", "",
              "## Numeric-library threads per worker (kmeans, concurrency 8)", "",
              "| setting | req/s | p99 ms |", "| --- | --- | --- |"]
    for label, r in results["threads"].items():
        lines.append(f"| {label} | {r['rps']:,.0f} | {r['p99_ms']:.2f} |")
    lines += ["", "gunicorn.conf.py sets OMP/OpenBLAS/MKL threads to cores / workers unless the user sets them, so "
              "workers do not fight over the same cores. For kmeans, whose predict works on one 2-d point, the "
              "difference is within run-to-run noise; it shows on models whose predict runs BLAS on larger arrays.",
              "", "## Build (examples/kmeans)", "",
              "| build | seconds |", "| --- | --- |"]
    lines += [f"| {name} | {seconds:.1f} |" for name, seconds in results["builds"].items()]
    lines += ["", "Cold: empty package cache (the network and its proxy may still cache). Warm: the same cache, "
              "a fresh venv.", ""]
    warm = results.get("warm_builds")
    if warm:
        lines += ["### Warm build, before and after the build environment (examples/kmeans)", "",
                  "| nbs2i | seconds (median) |", "| --- | --- |"]
        if "before" in warm:
            lines.append(f"| before: one venv, cells translated by hand (commit e04e22b) | {warm['before']:.1f} |")
        lines.append(f"| after: IPython in a build environment, then the served environment | {warm['after']:.1f} |")
        lines += ["", "Stages of the after build (medians of metadata.json `build_seconds`): "
                  + ", ".join(f"{name.replace('_', ' ')} {value:.1f} s" for name, value in warm["stages"].items())
                  + "; the rest is reading the notebook, copying the service and the smoke test. Rounds "
                  "interleave the two tools on one warm cache.", ""]
    if results.get("served_sizes"):
        lines += ["## Served venv per example (MB)", "",
                  "| example | every requirement (NBS2I_MINIMAL_ENV=0, as before) | derived from the artifact | "
                  "packages left out | analysis s |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| {name} | {row['every requirement']:.0f} | {row['derived']:.0f} | {row['left_out']} | "
                  f"{row['analysis_s']:.1f} |" for name, row in results["served_sizes"].items()]
        lines += ["", "Analysis: the probe and the closure (metadata.json `build_seconds.serving_analysis`).", ""]
    if results.get("runtime_images"):
        lines += ["## Runtime-path model image per example (MB)", "",
                  "| example | every requirement (NBS2I_MINIMAL_ENV=0, as before) | derived from the artifact |",
                  "| --- | --- | --- |"]
        lines += [f"| {name} | {row['every requirement']:.0f} | {row['derived']:.0f} |"
                  for name, row in results["runtime_images"].items()]
        lines += ["", "Built with `nbs2i image` (builder assembles, runtime image gets OUT). name-classifier is "
                  "not built as an image here: its CPU torch comes from this machine's find-links folder, which "
                  "the build container cannot see.", ""]
    if results.get("image_build_s"):
        lines += ["## Image builds (kmeans, `nbs2i image`, podman with vfs storage)", "", "| build | seconds |", "| --- | --- |"]
        lines += [f"| {label} | {seconds:.0f} |" for label, seconds in results["image_build_s"].items()]
        lines += ["", "The first build downloads every package (the uv cache inside the image starts empty); the "
                  "incremental one copies the previous image's cache out of its mounted file system and mounts it "
                  "for the assemble step. See docs/images.md for when incremental builds pay off.", ""]
    if results.get("images"):
        lines += ["## Images", "", "| image | MB |", "| --- | --- |"]
        lines += [f"| {name} | {size:.0f} |" for name, size in results["images"].items()]
        lines += [""]
    else:
        lines += ["## Images", "", "No container engine here: see docs/images.md for sizes from `make test`.", ""]
    if mutation.RESULTS.exists():  # `make mutation`'s last score stays in the file bench rewrites
        lines += mutation.section(json.loads(mutation.RESULTS.read_text()))
    (docs / "benchmarks.md").write_text("\n".join(lines) + "\n")
