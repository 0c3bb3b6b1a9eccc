"""`make mutation`: how many of the service's mutants the unit tests kill (mutmut).

mutmut changes one thing at a time in service_skeleton's app, model, http, config and
metrics modules (an operator, a constant, a string, an argument) and runs the unit tests
that reach the changed function; a mutant the tests still pass is a change nobody would
notice. mutmut imports the code from `src/` or the top of the tree, so the run happens in
a staged copy (build/mutation: src/nbs2i_service and test/), never in the working tree.

Writes docs/bench/mutation.json and the "Mutation testing" section of docs/benchmarks.md;
exits 1 when fewer than MUTATION_GOAL percent (80) are killed. Not part of `make test`:
about 2,000 mutants take 7 to 10 minutes on 2 cores.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STAGE = REPO / "build" / "mutation"
RESULTS = REPO / "docs" / "bench" / "mutation.json"
BENCHMARKS = REPO / "docs" / "benchmarks.md"
HEADING = "## Mutation testing"
MODULES = ("app", "model", "http", "config", "metrics")
GOAL = float(os.environ.get("MUTATION_GOAL", "80"))
# mutmut's statuses that count as caught: a test failed, the run timed out, or a type check refused it
CAUGHT = {"killed", "timeout", "caught by type check"}

MUTMUT_CONFIG = """\
[tool.mutmut]
source_paths = ["src"]
only_mutate = [{only}]
also_copy = ["README.md"]
pytest_add_cli_args_test_selection = ["test/unit"]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]

[tool.pytest.ini_options]
addopts = "--strict-markers"
markers = ["slow: builds", "image: images", "browser: chromium"]
"""


def log(message: str) -> None:
    print(f"---> {message}", file=sys.stderr, flush=True)


def stage() -> None:
    """A copy mutmut can work in: src/nbs2i_service, the unit tests and what they read."""
    shutil.rmtree(STAGE, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "service_skeleton" / "nbs2i_service", STAGE / "src" / "nbs2i_service", ignore=ignore)
    shutil.copytree(REPO / "test" / "unit", STAGE / "test" / "unit", ignore=ignore)
    for name in ("__init__.py", "helpers.py", "conftest.py"):
        shutil.copy2(REPO / "test" / name, STAGE / "test" / name)
    shutil.copy2(REPO / "README.md", STAGE / "README.md")  # test_config checks the README's defaults
    only = ", ".join(f'"src/nbs2i_service/{m}.py"' for m in MODULES)
    (STAGE / "pyproject.toml").write_text(MUTMUT_CONFIG.format(only=only))


def run_mutmut() -> float:
    """mutmut run in the stage; its progress goes to build/mutation/mutmut.log."""
    started = time.monotonic()
    children = str(os.cpu_count() or 2)
    with (STAGE / "mutmut.log").open("wb") as out:
        result = subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", children],
                                cwd=STAGE, stdout=out, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        tail = (STAGE / "mutmut.log").read_bytes()[-3000:].decode(errors="replace").replace("\r", "\n")
        sys.exit(f"mutmut run failed (exit {result.returncode}); the end of {STAGE / 'mutmut.log'}:\n{tail}")
    return time.monotonic() - started


def collect() -> dict:
    """Per module: mutants by status, from mutmut's own records (src/nbs2i_service/*.py.meta)."""
    from mutmut.stats import status_by_exit_code

    modules, survivors = {}, []
    for module in MODULES:
        meta = json.loads((STAGE / "mutants" / "src" / "nbs2i_service" / f"{module}.py.meta").read_text())
        statuses = Counter()
        for name, code in meta["exit_code_by_key"].items():
            status = status_by_exit_code[code]
            statuses[status] += 1
            if status not in CAUGHT:
                survivors.append(f"{name}: {status}")
        modules[module] = dict(statuses)
    (STAGE / "survivors.txt").write_text("\n".join(sorted(survivors)) + "\n")
    return modules


def score(statuses: dict) -> tuple[int, int]:
    return sum(n for s, n in statuses.items() if s in CAUGHT), sum(statuses.values())


def section(results: dict) -> list[str]:
    """The Mutation testing section of docs/benchmarks.md (bench/report.py keeps it there)."""
    lines = [HEADING, "",
             f"`make mutation`: mutmut {results['mutmut']} on service_skeleton's {', '.join(MODULES)} modules, "
             f"against the unit tests (`test/unit`), {results['date']}, {results['minutes']:.0f} min on "
             f"{results['cpus']} CPUs. Caught: a test failed or the mutant timed out. Goal: {GOAL:.0f}%.", "",
             "| module | mutants | caught | survived | score |", "| --- | --- | --- | --- | --- |"]
    caught_all = total_all = 0
    for module, statuses in results["modules"].items():
        caught, total = score(statuses)
        caught_all, total_all = caught_all + caught, total_all + total
        lines.append(f"| {module}.py | {total} | {caught} | {total - caught} | {100 * caught / total:.1f}% |")
    overall = 100 * caught_all / total_all
    lines += [f"| all five | {total_all} | {caught_all} | {total_all - caught_all} | **{overall:.1f}%** "
              f"({'met' if overall >= GOAL else 'missed'}) |", "",
              "What survives is listed in build/mutation/survivors.txt after a run; `cd build/mutation && "
              "../../.venv/bin/mutmut show NAME` shows one. Read one by one, those left at the last count were "
              "equivalent: a header or encoding name's case (HTTP and Python ignore it), a Flask method list's case "
              "or absence (Flask upper-cases it, GET is its default), a shared-memory map larger than needed, a "
              "default for a request id that is always set, an error code the V2 protocol's answer does not carry, an "
              "argument equal to its default (json.dumps' separators), the schema's fast path skipped (the same answer, "
              "slower).", ""]
    return lines


def write_section(results: dict) -> None:
    """Replace (or add) the section at the end of docs/benchmarks.md, leaving the rest as bench wrote it."""
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else "# Benchmarks\n"
    head = text.split(f"\n{HEADING}\n", 1)[0].rstrip("\n")
    BENCHMARKS.write_text(head + "\n\n" + "\n".join(section(results)) + "\n")


def main() -> None:
    from importlib.metadata import version

    log(f"staging the service and its unit tests in {STAGE}")
    stage()
    log(f"running mutmut on {', '.join(m + '.py' for m in MODULES)} (progress: {STAGE / 'mutmut.log'})")
    seconds = run_mutmut()
    results = {"mutmut": version("mutmut"), "date": time.strftime("%Y-%m-%d"), "minutes": seconds / 60,
               "cpus": os.cpu_count(), "modules": collect()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    write_section(results)
    print("\n".join(section(results)))
    caught, total = map(sum, zip(*(score(s) for s in results["modules"].values())))
    if 100 * caught / total < GOAL:
        sys.exit(f"mutation score {100 * caught / total:.1f}% is under the goal of {GOAL:.0f}%: "
                 f"see {STAGE / 'survivors.txt'}")


if __name__ == "__main__":
    main()
