"""docs/benchmarks.md and its plot from one run's results (bench/run.py); the goals are bench/targets.py's.

The first table is the goals, met or missed. A part measured at another commit or in an
earlier run than the report's is marked stale wherever it appears. The previous report's
figures (docs/bench/results.json) are compared with this run's: what got worse is listed
beside what got better.
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bench import mutation, targets  # noqa: E402
from bench.targets import at  # noqa: E402

RESULTS = "results.json"  # beside the plots: the next report compares with it


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def _stale(results: dict, part: str) -> bool:
    measured = results["parts"][part]["measured"]
    return measured["commit"] != results["run"]["commit"] or measured["date"] != results["run"]["date"]


def goals(results: dict) -> list[targets.Target]:
    parts, cores = results["parts"], results["run"]["machine"]["cores"]
    found: list[targets.Target] = []
    checks = {"serving": lambda p: targets.serving(p, cores), "grpc": targets.grpc, "engines": targets.engines,
              "batching": targets.batching,
              "day_two": targets.day_two,
              "rebuild": targets.rebuild}
    for part, check in checks.items():
        if part in parts:
            for target in check(parts[part]):
                target.stale = _stale(results, part)
                found.append(target)
    if "stalled" in parts:
        alone, beside = parts["stalled"]["alone"]["rps"], parts["stalled"]["with 64 stalled clients"]["rps"]
        found.append(targets.Target(beside >= 0.9 * alone, f"with 64 stalled clients open, kmeans c=8 {beside:,.0f} req/s "
                                    f"against {alone:,.0f} alone ({beside / alone - 1:+.0%}); goal a fall under 10%",
                                    _stale(results, "stalled")))
    if "start" in parts:
        serve, bare = parts["start"]["nbs2i serve"], parts["start"]["loading the model alone"]
        found.append(targets.Target(serve <= bare + 0.5, f"`nbs2i serve` of kmeans ready in {serve:.2f} s; loading the "
                                    f"model alone takes {bare:.2f} s; goal within 0.5 s of it", _stale(results, "start")))
    if "builds" in parts:
        b = parts["builds"]
        found.append(targets.Target(b["pip cold"] >= 3 * b["uv cold"], f"cold build: uv {b['uv cold']:.1f} s, pip "
                                    f"{b['pip cold']:.1f} s = {b['pip cold'] / b['uv cold']:.1f}x; goal 3x",
                                    _stale(results, "builds")))
    images = parts.get("images", {})
    rt, base = images.get("sizes", {}).get("localhost/nbs2i-bench-kmeans-rt"), images.get("sizes", {}).get(
        "localhost/nbs2i-base:bookworm")
    if rt and base:
        limit = base + images["payload_mb"] + 5
        found.append(targets.Target(rt <= limit, f"kmeans runtime image {rt:.0f} MB against base {base:.0f} + venv, model "
                                    f"and service {images['payload_mb']:.0f} + 5 = {limit:.0f} MB",
                                    _stale(results, "images")))
    return found


def _table(rows: dict, concurrencies=targets.CONCURRENCY) -> list[str]:
    head = "| server | " + " | ".join(f"c={c} req/s | c={c} p50 / p99 ms" for c in concurrencies) + " |"
    lines = [head, "|" + " --- |" * (1 + 2 * len(concurrencies))]
    for name, by_c in rows.items():
        cells = []
        for c in concurrencies:
            r = at(by_c, c)
            cells += [f"{r['rps']:,.0f}" + (f" ({r['errors']} errors)" if r["errors"] else ""),
                      f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _heading(results: dict, part: str, title: str) -> list[str]:
    measured = results["parts"][part]["measured"]
    note = f" (stale: measured at {measured['commit']}, {measured['date']})" if _stale(results, part) else ""
    return [f"## {title}{note}", ""]


def _serving(results: dict) -> list[str]:
    part = results["parts"]["serving"]
    cores = results["run"]["machine"]["cores"]
    rows = part["rows"]
    ours, floor = at(rows[targets.NBS2I], 8)["rps"], at(rows[targets.FLOOR], 8)["rps"]
    http_us, ours_us = cores / floor * 1e6, cores / ours * 1e6
    predictor_us = 1e6 / part["predictor_per_s"]
    lines = _heading(results, "serving", "Serving (examples/kmeans)") + _table(rows) + [
        "", f"Versions: {', '.join(f'{k} {v}' for k, v in part['versions'].items())}. The bare predictor answers "
        f"{part['predictor_per_s']:,.0f} calls/s in one process with a worker's thread pools. Every server was "
        "checked to answer the same before it was timed (the cluster centre, or scikit-learn's label where the "
        "server only calls `predict`).", "",
        f"Where the time goes at c=8 (CPU per request, both cores, wrk included): the keep-alive constant answer "
        f"{http_us:.0f} us, the bare predictor {predictor_us:.0f} us, nbs2i {ours_us:.0f} us, so nbs2i's own cost is "
        f"about {ours_us - http_us - predictor_us:.0f} us a request.", ""]
    rest = part.get("memory_at_rest", {})
    if rest:
        lines += ["Memory at rest after the rounds (PSS of all processes, MB): " + ", ".join(
            f"{label} {pss:.0f}" for label, (pss, _) in rest.items()) + ".", ""]
    return lines + ["![serving](bench/serving-kmeans.png)", ""]


def _grpc(results: dict) -> list[str]:
    part = results["parts"]["grpc"]
    return _heading(results, "grpc", "The Open Inference Protocol: gRPC and REST V2 (kmeans, c=8)") + _table(
        part["rows"], (8,)) + ["", f"MLServer {part['mlserver']}. Every point is driven by the same client "
                               "(bench/calls.py: 8 connections over two processes, calls sent as prepared bytes, "
                               "answers left unparsed), since wrk speaks no gRPC; its own cost is on the same cores, so "
                               "these figures are lower than the wrk ones above. nbs2i's gRPC runs in its gevent "
                               "workers (docs/choices.md).", ""]


def _engines(results: dict) -> list[str]:
    part = results["parts"]["engines"]
    lines = _heading(results, "engines", f"Scoring a table: nbs2i score, Spark and Ray ({part['rows']:,} kmeans rows)")
    lines += ["| scorer | rows/s | seconds |", "| --- | --- | --- |"]
    lines += [f"| {name} | {rate:,.0f} | {part['seconds'][name]:.1f} |" for name, rate in part["rows_per_second"].items()]
    v = part["versions"]
    return lines + ["", f"From a file to a file, engine start included, on {part['cores']} cores: nbs2i score reads JSON "
                    f"Lines, the engines Parquet (pyspark {v['pyspark']}, Ray {v['ray']}, MLflow {v['mlflow']}). nbs2i "
                    "runs the notebook's own code in OUT/venv's Python behind a pipe, `predictor` per sample where the "
                    "notebook has no `batch_predictor` (kmeans has none); MLflow's spark_udf calls the estimator's "
                    "`predict` on each Arrow batch, in the engine's Python (env_manager=local).", ""]


def _batching(results: dict) -> list[str]:
    part = results["parts"]["batching"]
    return _heading(results, "batching", "Batching (examples/batch-vectorised, single /predict requests)") + _table(
        part["rows"]) + ["", f"Mean batch gathered by the default service: {part['mean_batch']:.1f} samples "
                         "(nbs2i_batch_size in /metrics).", "", "| /predict/batch at c=8 | predictions/s |",
                         "| --- | --- |"] + [f"| {size} instances | {at(part['sizes'], size):,.0f} |"
                                            for size in (1, 32, 256)] + [""]


def _day_two(results: dict) -> list[str]:
    part = results["parts"]["day_two"]
    events = ", ".join(f"{k} {v:,.0f}" for k, v in part.get("payload_events", {}).items())
    return _heading(results, "day_two", "Drift and payload logging (kmeans)") + _table(part["rows"], (8,)) + [
        "", f"Payload-log events of the logging run: {events}.", ""]


def _rest(results: dict) -> list[str]:
    parts, lines = results["parts"], []
    if "stalled" in parts:
        lines += _heading(results, "stalled", "Stalled clients (kmeans, c=8)") + [
            "| condition | req/s | p99 ms |", "| --- | --- | --- |"] + [
            f"| {label} | {r['rps']:,.0f} | {r['p99_ms']:.2f} |" for label, r in parts["stalled"].items()
            if label != "measured"] + [""]
    if "start" in parts:
        lines += _heading(results, "start", "Start to ready (kmeans)") + ["| what | seconds |", "| --- | --- |"] + [
            f"| {label} | {value:.2f} |" for label, value in parts["start"].items() if label != "measured"] + [""]
    if "memory" in parts:
        lines += _heading(results, "memory", "Memory by workers (kmeans, after load)") + [
            "| workers | PSS of all processes, MB | RSS sum, MB |", "| --- | --- | --- |"] + [
            f"| {w} | {v[0]:.0f} | {v[1]:.0f} |" for w, v in parts["memory"].items() if w != "measured"] + [""]
    if "rebuild" in parts:
        r = parts["rebuild"]
        lines += _heading(results, "rebuild", "Warm rebuild (kmeans)") + [
            f"Median of the rounds: {r['total']:.1f} s in all, of which the cells' own time is {r['cells']:.1f} s. "
            "Stages (metadata.json `build_seconds`): " + ", ".join(f"{k.replace('_', ' ')} {v:.1f} s"
                                                                  for k, v in r["stages"].items()) + ".", ""]
    if "builds" in parts:
        lines += _heading(results, "builds", "Builds (kmeans)") + ["| build | seconds |", "| --- | --- |"] + [
            f"| {k} | {v:.1f} |" for k, v in parts["builds"].items() if k != "measured"] + [""]
    if "served_sizes" in parts:
        lines += _heading(results, "served_sizes", "Served venv per example (MB)") + [
            "| example | every requirement (NBS2I_MINIMAL_ENV=0) | derived from the artifact | packages left out | "
            "analysis s |", "| --- | --- | --- | --- | --- |"] + [
            f"| {name} | {row['every requirement']:.0f} | {row['derived']:.0f} | {row['left_out']} | "
            f"{row['analysis_s']:.1f} |" for name, row in parts["served_sizes"].items() if name != "measured"] + [""]
    if parts.get("images", {}).get("sizes"):
        images = parts["images"]
        lines += _heading(results, "images", "Images (podman, vfs storage)") + ["| image | MB |", "| --- | --- |"] + [
            f"| {name} | {size:.0f} |" for name, size in images["sizes"].items()] + [
            "", f"The kmeans runtime image (read-only root, an arbitrary UID) is ready {images['start_s']:.2f} s after "
            "`podman run`, most of it vfs storage copying the image into the container.", ""]
    return lines


def _key_figures(results: dict) -> dict[str, tuple[float, bool]]:
    """name -> (value, higher is better): what the next report compares with."""
    parts, found = results.get("parts", {}), {}
    if "serving" in parts:
        for c in targets.CONCURRENCY:
            found[f"nbs2i kmeans c={c} req/s"] = (at(parts["serving"]["rows"][targets.NBS2I], c)["rps"], True)
            found[f"nbs2i kmeans c={c} p99 ms"] = (at(parts["serving"]["rows"][targets.NBS2I], c)["p99_ms"], False)
    if "grpc" in parts:
        found["nbs2i gRPC ModelInfer c=8 calls/s"] = (at(parts["grpc"]["rows"][targets.GRPC], 8)["rps"], True)
        found["nbs2i gRPC ModelInfer c=8 p99 ms"] = (at(parts["grpc"]["rows"][targets.GRPC], 8)["p99_ms"], False)
    if "engines" in parts:
        for name, rate in parts["engines"]["rows_per_second"].items():
            if name.startswith("nbs2i"):
                found[f"{name} rows/s"] = (rate, True)
    if "batching" in parts:
        found["batching on, c=32 req/s"] = (at(parts["batching"]["rows"]["batching on (the default)"], 32)["rps"], True)
    if "rebuild" in parts:
        found["warm rebuild s"] = (parts["rebuild"]["total"], False)
    if "start" in parts:
        found["start to ready s"] = (parts["start"]["nbs2i serve"], False)
    return found


def _changes(results: dict, previous: dict | None) -> list[str]:
    if not previous or "run" not in previous:
        return []
    now, before = _key_figures(results), _key_figures(previous)
    lines = [f"## Against the previous report ({previous['run']['commit']}, {previous['run']['date']})", "",
             "Figures of another run on a noisy machine: a change under 30% may be the machine's.", "",
             "| figure | before | now | change |", "| --- | --- | --- | --- |"]
    for name, (value, higher) in now.items():
        if name in before and before[name][0]:
            change = value / before[name][0] - 1
            worse = (change < 0) == higher and abs(change) > 0.005
            lines.append(f"| {name} | {before[name][0]:,.2f} | {value:,.2f} | {change:+.0%}"
                         f"{' **worse**' if worse else ''} |")
    return lines + [""]


def _plot(results: dict, target: Path) -> None:
    rows = results["parts"]["serving"]["rows"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, by_c in rows.items():
        cs = list(targets.CONCURRENCY)
        ax1.plot(cs, [at(by_c, c)["rps"] for c in cs], marker="o", label=name)
        ax2.plot(cs, [at(by_c, c)["p99_ms"] for c in cs], marker="o", label=name)
    ax1.set(xscale="log", xlabel="concurrent connections", ylabel="requests/s", title="kmeans: throughput")
    ax2.set(xscale="log", yscale="log", xlabel="concurrent connections", ylabel="p99 latency (ms)", title="kmeans: p99")
    ax1.legend(fontsize=6)
    fig.suptitle(f"{results['run']['machine']['cores']} cores, {results['run']['machine']['cpu']}, "
                 f"commit {results['run']['commit']}", fontsize=8)
    fig.tight_layout()
    fig.savefig(target / "serving-kmeans.png", dpi=110)
    plt.close(fig)


def write(results: dict, docs: Path) -> None:
    plots = docs / "bench"
    plots.mkdir(parents=True, exist_ok=True)
    previous_path = plots / RESULTS
    previous = json.loads(previous_path.read_text()) if previous_path.exists() else None
    run, m = results["run"], results["run"]["machine"]
    found = goals(results)
    missed = [t for t in found if not t.ok]
    lines = ["# Benchmarks", "",
             f"Produced by `make bench` (bench/run.py) at commit {run['commit']}, {run['date']}, on {m['cores']} cores "
             f"({m['cpu']}; {m['platform']}), Python {run['python']}. Each point is {run['seconds_per_point']} s of wrk "
             "(a separate process on the same cores) after a 1 s warm-up; servers compared with each other are all up "
             f"at once and driven in turn, {run['rounds']} rounds, medians. Absolute numbers drift between runs on "
             "shared machines; the ratios within one part are what to compare.", "",
             f"## Goals: {len(found) - len(missed)} met, {len(missed)} missed", "",
             "| result | goal (kmeans unless said; each against the best of the others) |", "| --- | --- |"]
    lines += [t.row() for t in found] + [""]
    lines += _changes(results, previous)
    if "serving" in results["parts"]:
        _plot(results, plots)
        lines += _serving(results)
    if "grpc" in results["parts"]:
        lines += _grpc(results)
    if "engines" in results["parts"]:
        lines += _engines(results)
    if "batching" in results["parts"]:
        lines += _batching(results)
    if "day_two" in results["parts"]:
        lines += _day_two(results)
    lines += _rest(results)
    if mutation.RESULTS.exists():  # `make mutation`'s last run stays in the file bench rewrites
        lines += mutation.section(json.loads(mutation.RESULTS.read_text()))
    (docs / "benchmarks.md").write_text("\n".join(lines) + "\n")
    previous_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
