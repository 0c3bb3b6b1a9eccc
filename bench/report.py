"""docs/benchmarks.md and its plots from one run's results (bench/run.py)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


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


def _at8(row: dict) -> dict:
    return row.get(8) or row.get("8")


def _targets(results: dict) -> list[str]:
    cores = results["machine"]["cores"]
    km = results["serving"]["kmeans"]
    rows = km["rows"]
    ours = max((_at8(rows["nbs2i serve (defaults)"]), _at8(rows["nbs2i serve (tuned: gthread, 4 threads)"])),
               key=lambda r: r["rps"])
    http = _at8(rows["constant gunicorn app (HTTP floor)"])["rps"]
    floor = 1 / (1 / http + 1 / (cores * km["predictor_per_s"]))
    ml_default = _at8(rows["MLflow scoring server (defaults)"])
    ml_best = _at8(rows[f"MLflow scoring server ({cores} workers)"])
    dev = _at8(rows["Flask dev server (prototype)"])
    batch = results["batch"]
    single = batch.get("single /predict")
    b256 = batch.get(256) or batch.get("256")
    builds = results["builds"]
    others_p99 = max(r["p99_ms"] for r in (ml_default, ml_best, dev))
    lines = ["| result | target (kmeans, concurrency 8, unless said) |", "| --- | --- |",
             _verdict(ours["rps"] >= 0.8 * floor, f"nbs2i {ours['rps']:,.0f} req/s = {ours['rps'] / floor:.0%} of the combined floor "
                      f"{floor:,.0f} (1 / (1/{http:,.0f} + 1/({cores} x {km['predictor_per_s']:,.0f}))); goal 80%"),
             _verdict(ours["p99_ms"] < 10, f"nbs2i p99 {ours['p99_ms']:.2f} ms; goal under 10 ms"),
             _verdict(ours["rps"] >= 5 * ml_default["rps"], f"{ours['rps'] / ml_default['rps']:.1f}x MLflow with its defaults; goal 5x"),
             _verdict(ours["rps"] >= 2.5 * ml_best["rps"], f"{ours['rps'] / ml_best['rps']:.1f}x MLflow with {cores} workers; goal 2.5x"),
             _verdict(ours["rps"] >= 4 * dev["rps"], f"{ours['rps'] / dev['rps']:.1f}x Flask's development server; goal 4x"),
             _verdict(ours["p99_ms"] <= others_p99, f"p99 {ours['p99_ms']:.2f} ms vs the worst alternative's {others_p99:.2f} ms; goal no worse than any"),
             _verdict(b256 >= 20 * single, f"batch of 256 with batch_predictor: {b256:,.0f} predictions/s = {b256 / single:.0f}x single requests; goal 20x"),
             _verdict(builds["uv warm"] < 15, f"warm rebuild {builds['uv warm']:.1f} s; goal under 15 s"),
             _verdict(builds["pip cold"] >= 3 * builds["uv cold"], f"cold build: uv {builds['uv cold']:.1f} s, pip {builds['pip cold']:.1f} s "
                      f"= {builds['pip cold'] / builds['uv cold']:.1f}x; goal 3x")]
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
    """Why the serving targets land where they do, from this run's own numbers."""
    cores = results["machine"]["cores"]
    rows = results["serving"]["kmeans"]["rows"]
    ours = max((_at8(rows["nbs2i serve (defaults)"]), _at8(rows["nbs2i serve (tuned: gthread, 4 threads)"])),
               key=lambda r: r["rps"])
    http_us = cores / _at8(rows["constant gunicorn app (HTTP floor)"])["rps"] * 1e6
    predictor_us = 1e6 / results["serving"]["kmeans"]["predictor_per_s"]
    ours_us = cores / ours["rps"] * 1e6
    budget_us = cores / (0.8 / (1 / _at8(rows["constant gunicorn app (HTTP floor)"])["rps"]
                                + 1 / (cores * results["serving"]["kmeans"]["predictor_per_s"]))) * 1e6
    ml = _at8(rows[f"MLflow scoring server ({cores} workers)"])
    return ["## What limits the misses", "",
            f"- CPU per kmeans request at concurrency 8 (both cores, wrk included): HTTP floor {http_us:.0f} us, "
            f"bare predictor {predictor_us:.0f} us, nbs2i {ours_us:.0f} us. The {ours_us - http_us - predictor_us:.0f} us "
            "between them is the request's trip through Flask (request and response objects, routing, hooks: "
            "about 110 us measured in-process, see bench/README) plus its JSON and metrics work. 80% of the "
            f"combined floor allows {budget_us:.0f} us in all, which a Flask request path cannot meet on a model "
            "this fast; a bigger model (iris-tree is close behind, any real one more so) shrinks the gap.",
            f"- MLflow with {cores} uvicorn workers answers at about {ml['p50_ms']:.0f} ms median even at low load here, "
            "the delayed-ACK stall of a server without TCP_NODELAY that the issue's reference figures mention; its "
            "ratio is therefore flattering to us, and the ratio to MLflow's defaults is the fair one.",
            "- Batch: a request of 256 instances spends most of its time decoding JSON and checking each instance "
            "against input_schema (compiled with fastjsonschema); the vectorised prediction itself is a single matrix "
            "product.",
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
             "same cores) after a 1 s warm-up. Absolute numbers drift between runs on shared machines; the ratios within "
             "one run are what to compare.", "", "## Targets", ""]
    lines += _targets(results) + [""] + _limits(results) + ["## Serving", ""]
    for model, data in results["serving"].items():
        lines += _serving_table(model, data)
    lines += [f"![{name}](bench/{name})" for name in images] + [""]
    batch = results["batch"]
    lines += ["## Batch endpoint (examples/batch-vectorised, batch_predictor, concurrency 8)", "",
              "| request | predictions/s |", "| --- | --- |",
              f"| single /predict | {batch['single /predict']:,.0f} |"]
    lines += [f"| /predict/batch, {size} instances | {batch.get(size, batch.get(str(size))):,.0f} |" for size in (1, 32, 256)]
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
    if results.get("images"):
        lines += ["## Images", "", "| image | MB |", "| --- | --- |"]
        lines += [f"| {name} | {size:.0f} |" for name, size in results["images"].items()]
        lines += [""]
    else:
        lines += ["## Images", "", "No container engine here: see docs/images.md for sizes from `make test`.", ""]
    (docs / "benchmarks.md").write_text("\n".join(lines) + "\n")
