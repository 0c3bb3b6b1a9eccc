"""`make mutation`'s own parts (bench/mutation.py): the staged copy mutmut works in, and the
section it keeps at the end of docs/benchmarks.md. The mutmut run itself takes minutes and
is not part of `make test`."""
from __future__ import annotations

import tomllib

from bench import mutation


def test_the_stage_holds_the_service_and_its_unit_tests_and_names_every_module(tmp_path, monkeypatch):
    monkeypatch.setattr(mutation, "STAGE", tmp_path / "stage")
    mutation.stage()
    stage = tmp_path / "stage"
    for module in mutation.MODULES:
        assert (stage / "src" / "nbs2i_service" / f"{module}.py").is_file()
    assert (stage / "test" / "unit" / "test_app.py").is_file() and (stage / "README.md").is_file()
    assert not list(stage.rglob("__pycache__"))
    config = tomllib.loads((stage / "pyproject.toml").read_text())["tool"]["mutmut"]
    service = sorted(p.stem for p in (mutation.REPO / "service_skeleton" / "nbs2i_service").glob("*.py")
                     if p.name != "__init__.py")
    assert config["only_mutate"] == [f"src/nbs2i_service/{m}.py" for m in service]
    assert {"worker", "batching", "front", "v2", "drift", "stream", "score"} <= set(mutation.MODULES)
    assert config["pytest_add_cli_args_test_selection"] == ["test/unit"]


RESULTS = {"mutmut": "3.8.1", "date": "2026-11-25", "minutes": 6.4, "cpus": 2, "modules": {
    "app": {"killed": 70, "survived": 30}, "model": {"killed": 9, "timeout": 1}, "http": {"killed": 10},
    "config": {"killed": 10}, "metrics": {"killed": 5, "survived": 5}},
    "survivors": [{"module": "app", "mutant": "nbs2i_service.app.x_f__mutmut_1", "status": "survived", "line": 57,
                   "was": "return a | b", "now": "return None"}]}


def test_the_section_counts_timeouts_as_caught_and_says_whether_the_goal_is_met():
    lines = mutation.section(RESULTS)
    assert "| app.py | 100 | 70 | 30 | 70.0% |" in lines
    assert "| model.py | 10 | 10 | 0 | 100.0% |" in lines
    assert "| all 5 | 140 | 105 | 35 | **75.0%** (missed) |" in lines
    assert "| app.py:57 | survived | `return a \\| b` | `return None` |" in lines  # from the run, not a fixed sentence
    assert not any("equivalent" in line for line in lines)
    passing = dict(RESULTS, modules={**RESULTS["modules"], "app": {"killed": 100}})
    assert "| all 5 | 140 | 135 | 5 | **96.4%** (met) |" in mutation.section(passing)


def test_the_section_replaces_its_old_self_and_nothing_else(tmp_path, monkeypatch):
    benchmarks = tmp_path / "benchmarks.md"
    benchmarks.write_text("# Benchmarks\n\n## Serving\n\nfigures\n\n## Mutation testing\n\nold score\n")
    monkeypatch.setattr(mutation, "BENCHMARKS", benchmarks)
    mutation.write_section(RESULTS)
    mutation.write_section(RESULTS)
    text = benchmarks.read_text()
    assert text.startswith("# Benchmarks\n\n## Serving\n\nfigures\n\n## Mutation testing\n")
    assert "old score" not in text and text.count("## Mutation testing") == 1
    assert text.endswith("\n".join(mutation.section(RESULTS)) + "\n")
