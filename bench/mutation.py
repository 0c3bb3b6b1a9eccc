"""`make mutation`: how many of the service's mutants the unit tests kill (mutmut).

mutmut changes one thing at a time in every module of service_skeleton/nbs2i_service (an
operator, a constant, a string, an argument) and runs the unit tests that reach the changed
function; a mutant the tests still pass is a change nobody would notice. mutmut imports the
code from `src/` or the top of the tree, so the run happens in a staged copy (build/mutation:
src/nbs2i_service and test/), never in the working tree.

Writes docs/bench/mutation.json (with every survivor: its module, line and change, read from
the run's own mutants) and the "Mutation testing" section of docs/benchmarks.md; exits 1 when
fewer than MUTATION_GOAL percent (85) are caught. Not part of `make test`: it takes tens of
minutes on 2 cores.
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
MODULES = tuple(sorted(p.stem for p in (REPO / "service_skeleton" / "nbs2i_service").glob("*.py")
                       if p.name != "__init__.py"))
GOAL = float(os.environ.get("MUTATION_GOAL", "85"))
# mutmut's statuses that count as caught: a test failed, the run timed out, or a type check refused it
CAUGHT = {"killed", "timeout", "caught by type check"}

MUTMUT_CONFIG = """\
[tool.mutmut]
source_paths = ["src"]
only_mutate = [{only}]
also_copy = ["README.md", "builder", "bench"]
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
    # the builder's unit tests sit beside the service's; test_attestations imports it as `builder`
    shutil.copytree(REPO / "builder", STAGE / "builder", ignore=ignore)
    (STAGE / "bench").mkdir()
    for name in ("__init__.py", "targets.py"):  # test_bench_targets reads the bench's goals
        shutil.copy2(REPO / "bench" / name, STAGE / "bench" / name)
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


def collect() -> tuple[dict, list[dict]]:
    """Per module: mutants by status, from mutmut's own records (src/nbs2i_service/*.py.meta); and
    every survivor with the line it changed (read in the stage, where mutmut finds its mutants)."""
    from mutmut.stats import status_by_exit_code

    modules, survivors = {}, []
    for module in MODULES:
        meta_path = STAGE / "mutants" / "src" / "nbs2i_service" / f"{module}.py.meta"
        if not meta_path.exists():  # nothing in it mutmut can change
            continue
        statuses = Counter()
        for name, code in json.loads(meta_path.read_text())["exit_code_by_key"].items():
            status = status_by_exit_code[code]
            statuses[status] += 1
            if status not in CAUGHT:
                survivors.append({"module": module, "mutant": name, "status": status})
        modules[module] = dict(statuses)
    located = subprocess.run([sys.executable, str(Path(__file__).with_name("mutation_locate.py")),
                              json.dumps([s["mutant"] for s in survivors])], cwd=STAGE, capture_output=True, text=True)
    where = json.loads(located.stdout) if located.returncode == 0 else {}
    for survivor in survivors:
        survivor.update(where.get(survivor["mutant"], {"line": None, "was": "", "now": ""}))
    return modules, sorted(survivors, key=lambda s: (s["module"], s["line"] or 0))


def score(statuses: dict) -> tuple[int, int]:
    return sum(n for s, n in statuses.items() if s in CAUGHT), sum(statuses.values())


def section(results: dict) -> list[str]:
    """The Mutation testing section of docs/benchmarks.md (bench/report.py keeps it there)."""
    lines = [HEADING, "",
             f"`make mutation`: mutmut {results['mutmut']} on every module of service_skeleton/nbs2i_service, against "
             f"the unit tests (`test/unit`), {results['date']}, {results['minutes']:.0f} min on {results['cpus']} CPUs. "
             f"Caught: a test failed, the mutant timed out, or a type check refused it. Goal: {GOAL:.0f}%.", "",
             "| module | mutants | caught | survived | score |", "| --- | --- | --- | --- | --- |"]
    caught_all = total_all = 0
    for module, statuses in results["modules"].items():
        caught, total = score(statuses)
        caught_all, total_all = caught_all + caught, total_all + total
        lines.append(f"| {module}.py | {total} | {caught} | {total - caught} | {100 * caught / total:.1f}% |")
    overall = 100 * caught_all / total_all
    lines += [f"| all {len(results['modules'])} | {total_all} | {caught_all} | {total_all - caught_all} | "
              f"**{overall:.1f}%** ({'met' if overall >= GOAL else 'missed'}) |", ""]
    survivors = results.get("survivors", [])
    if survivors:
        lines += [f"<details><summary>The {len(survivors)} survivors of this run, by module and line</summary>", "",
                  "| where | status | was | became |", "| --- | --- | --- | --- |"]
        lines += [f"| {s['module']}.py:{s['line'] or '?'} | {s['status']} | `{_cell(s['was'])}` | `{_cell(s['now'])}` |"
                  for s in survivors]
        lines += ["", "</details>", ""]
    return lines


def _cell(code: str) -> str:
    return code.replace("|", "\\|").replace("`", "'")[:110]


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
    modules, survivors = collect()
    results = {"mutmut": version("mutmut"), "date": time.strftime("%Y-%m-%d"), "minutes": seconds / 60,
               "cpus": os.cpu_count(), "modules": modules, "survivors": survivors}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    write_section(results)
    print("\n".join(section(results)))
    caught, total = map(sum, zip(*(score(s) for s in results["modules"].values())))
    if 100 * caught / total < GOAL:
        sys.exit(f"mutation score {100 * caught / total:.1f}% is under the goal of {GOAL:.0f}%: the survivors are "
                 f"in {RESULTS} and docs/benchmarks.md")


if __name__ == "__main__":
    main()
