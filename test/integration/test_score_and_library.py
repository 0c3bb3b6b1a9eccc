"""`nbs2i score` on real files (100k lines in bounded memory) and the model as a library."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from test.helpers import NBS2I, build_env, build_notebook, nbs2i

pytestmark = pytest.mark.slow

CELLS = ["def predictor(sample):\n    return sample['x'] * 2",
         "def validator(sample):\n    return isinstance(sample, dict) and isinstance(sample.get('x'), (int, float))",
         "def batch_predictor(samples):\n    return [s['x'] * 2 for s in samples]",
         "example = {'x': 1}"]


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return build_notebook(tmp_path_factory.mktemp("score"), *CELLS)


def _score(out, path, output, *extra) -> tuple[subprocess.CompletedProcess, float]:
    """Run `nbs2i score` and return its peak resident memory in MB.

    A fresh wrapper process waits for the scorer alone, so RUSAGE_CHILDREN is the scorer's
    (pytest's own children include image builds and browsers).
    """
    wrapper = ("import resource, subprocess, sys\n"
               "code = subprocess.run(sys.argv[1:]).returncode\n"
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
               "sys.exit(code)\n")
    result = subprocess.run([sys.executable, "-c", wrapper, NBS2I, "score", str(out), "--input", str(path),
                             "--output", str(output), *extra], capture_output=True, text=True, env=build_env(), timeout=600)
    peak_kb = int(result.stderr.strip().splitlines()[-1])
    return result, peak_kb / 1024


def _write_lines(path, count: int) -> None:
    with open(path, "w") as handle:
        for i in range(count):
            handle.write('{"x": "bad"}\n' if i % 1000 == 999 else json.dumps({"x": i, "pad": "p" * 1000}) + "\n")


def test_100k_lines_in_order_in_bounded_memory(out, tmp_path):
    small, big = tmp_path / "small.jsonl", tmp_path / "big.jsonl"
    _write_lines(small, 1_000)
    _write_lines(big, 100_000)
    result, _ = _score(out, small, tmp_path / "small.out")
    assert result.returncode == 0, result.stderr
    result, peak = _score(out, big, tmp_path / "big.out")
    assert result.returncode == 0, result.stderr
    assert "scored 100,000 samples (100 errors)" in result.stderr
    assert peak < 150  # MB: the 100k-line (100 MB) file is streamed, not read whole (~60 MB seen)
    with open(tmp_path / "big.out") as handle:
        for i, line in enumerate(handle):
            answer = json.loads(line)
            if i % 1000 == 999:
                assert answer["error"]["code"] == "rejected" and answer["error"]["line"] == i + 1
            else:
                assert answer == {"prediction": 2 * i}
    assert i == 99_999


def test_csv_input_and_stdout(out, tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("x,label\n1,a\n2.5,b\nnope,c\n")
    result = subprocess.run([NBS2I, "score", str(out), "--input", str(path), "--output", "-"],
                            capture_output=True, text=True, env=build_env())
    assert result.returncode == 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[:2] == [{"prediction": 2}, {"prediction": 5.0}]
    assert lines[2]["error"]["code"] == "rejected"


def test_fatal_errors_exit_non_zero(out, tmp_path):
    result = subprocess.run([NBS2I, "score", str(out), "--input", str(tmp_path / "missing.jsonl"), "--output", "-"],
                            capture_output=True, text=True, env=build_env())
    assert result.returncode == 1 and "ERROR:" in result.stderr and "missing.jsonl" in result.stderr
    result = nbs2i("score", str(tmp_path / "nowhere"), "--input", "-", "--output", "-")
    assert result.returncode == 1 and "is not a complete build" in result.stderr


def test_model_as_a_library_in_its_venv(out):
    code = ("from nbs2i_service import load_model\n"
            "m = load_model(r'%s')\n"
            "print(m.predict({'x': 2}), m.predict_batch([{'x': 1}, {'x': 3}]), m.metadata['model_name'])\n"
            "try:\n    m.predict({'x': 'a'})\nexcept Exception as e:\n    print(type(e).__name__, e.message)\n" % out)
    result = subprocess.run([str(out / "venv/bin/python"), "-c", code], capture_output=True, text=True, cwd="/")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["4 [2, 6] model", "SampleRejected rejected by validator (it returned False)"]


def test_three_shards_merge_into_the_single_process_output(out, tmp_path):
    source = tmp_path / "in.jsonl"
    with open(source, "w") as handle:
        for i in range(10_000):
            if i % 997 == 5:
                handle.write('{"x": "rejected"}\n')
            elif i % 1499 == 7:
                handle.write("{not json\n")
            elif i % 2003 == 11:
                handle.write("\n")
            else:
                handle.write(json.dumps({"x": i, "pad": "p" * (i % 50)}) + "\n")
    single = tmp_path / "single.jsonl"
    assert nbs2i("score", str(out), "--input", str(source), "--output", str(single)).returncode == 0
    sharded = tmp_path / "sharded.jsonl"
    assert "no parts" in nbs2i("score", "--merge", "--output", str(sharded)).stderr.lower()
    procs = [subprocess.Popen([NBS2I, "score", str(out), "--input", str(source), "--output", str(sharded)],
                              env=build_env(JOB_COMPLETION_INDEX=str(i), JOB_COMPLETIONS="3"),
                              stderr=subprocess.PIPE, text=True) for i in range(3)]
    logs = [p.communicate(timeout=300)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), logs
    parts = sorted(tmp_path.glob("sharded.jsonl.part-*-of-00003"))
    assert [p.name for p in parts] == [f"sharded.jsonl.part-0000{i}-of-00003" for i in range(3)]
    sizes = [len(p.read_bytes().splitlines()) for p in parts]
    assert min(sizes) > 2500  # each shard scored about a third
    merged = nbs2i("score", "--merge", "--output", str(sharded))
    assert merged.returncode == 0, merged.stderr
    assert sharded.read_text().splitlines() == single.read_text().splitlines()
    lines = single.read_text().splitlines()
    assert sum('"rejected"' in line for line in lines) == 11 and sum("malformed_json" in line for line in lines) >= 6
    (tmp_path / "sharded.jsonl.part-00001-of-00003.done").unlink()
    refused = nbs2i("score", "--merge", "--output", str(sharded))
    assert refused.returncode == 1 and "1 of 3 parts are missing or unfinished" in refused.stderr
