"""The engines' end of the pipe to a built model: OUT/venv's own Python runs the model
(engine.py), and this process, an engine's (a Spark executor's Python worker, a Ray worker),
sends it chunks of samples and reads back what `nbs2i score` would write for them.

So the engine's Python needs none of the notebook's packages (a model built with scikit-learn
1.5 scores beside an engine that has 1.8), and the checks, batch_predictor and error records
are `nbs2i score`'s own. The standard library only: this runs where nbs2i's service packages
are not installed. One model process per engine process and OUT, kept for its life.
"""
from __future__ import annotations

import atexit
import json
import os
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

from . import encode, frames

class Refused(RuntimeError):
    """The model process would not load the model (a signature, a checksum, a missing OUT)."""


class Scorer:
    def __init__(self, out: str | Path, verify_key: str | None = None, verify_chain: str | None = None):
        """out: a built OUT on this machine; verify_key / verify_chain: the PEM text (not a path: the
        engine's workers may not have the driver's files) that the model's signature must verify with."""
        out = Path(out)
        python, model = out / "venv" / "bin" / "python", out / "model"
        if not python.exists() or not (model / "metadata.json").is_file():
            raise Refused(f"{out} is not a complete build (no venv/bin/python or model/metadata.json here): give "
                          "the engine the whole OUT (docs/batch-and-stream.md, Spark and Ray).")
        if not os.access(python, os.X_OK):  # an archive unpacked by Spark keeps no file modes
            python.chmod(0o755)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        self._keys = tempfile.TemporaryDirectory(prefix="nbs2i-keys-")
        for text, variable in ((verify_key, "NBS2I_VERIFY_KEY_FILE"), (verify_chain, "NBS2I_VERIFY_CHAIN_FILE")):
            if text:
                path = Path(self._keys.name) / variable.lower()
                path.write_text(text)
                env[variable] = str(path)
        self.proc = subprocess.Popen([str(python), "-m", "nbs2i_service.engine", str(model)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env, cwd="/")
        first = frames.read(self.proc.stdout)
        if first is None:
            code = self.proc.wait()
            raise Refused(f"the model process of {out} exited {code} before it loaded the model (its stderr, in "
                          "the engine's worker log, says why).")
        said = json.loads(first)
        if "refused" in said:
            self.proc.wait()
            raise Refused(f"refusing to score: {said['refused']}")
        self.info: dict = said["ready"]
        self.lock = threading.Lock()
        atexit.register(self.close)

    def score(self, samples: list) -> list[dict]:
        """{"prediction": ...} or {"error": {"code", "message"}} for each sample, in order."""
        if not samples:
            return []
        payload = "".join(json.dumps(plain(sample), allow_nan=False) + "\n" for sample in samples).encode()
        with self.lock:
            frames.write(self.proc.stdin, payload)
            answer = frames.read(self.proc.stdout)
        if answer is None:
            raise RuntimeError(f"the model process exited {self.proc.wait()} while scoring (its stderr says why)")
        found = [json.loads(line) for line in answer.splitlines()]
        for record in found:
            if "error" in record:
                record["error"].pop("line", None)  # counted within the chunk: nothing to the engine's rows
        return found

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._keys.cleanup()


def refusal(exc: BaseException) -> Refused | None:
    """The Refused a worker raised, out of the engine's own exception that carries it as text."""
    marker = f"{Refused.__module__}.Refused: "  # the worker's exception line, not its traceback's source
    for line in str(exc).splitlines():
        if marker in line:
            return Refused(line[line.index(marker) + len(marker):].strip())
    return None


_SHARED: dict[tuple, Scorer] = {}
_SHARED_LOCK = threading.Lock()


def shared(out: str | Path, verify_key: str | None = None, verify_chain: str | None = None) -> Scorer:
    """This process's Scorer of OUT, started on first use (a Spark Python worker scores many batches)."""
    key = (str(out), verify_key, verify_chain)
    with _SHARED_LOCK:
        scorer = _SHARED.get(key)
        if scorer is None or scorer.proc.poll() is not None:
            scorer = _SHARED[key] = Scorer(out, verify_key, verify_chain)
        return scorer


def plain(value: Any) -> Any:
    """An engine's value as JSON holds it (encode.to_jsonable: numpy, pandas, NaN as null), and
    what only engines hand over: pandas' NA as null, any other value as its text."""
    return encode.to_jsonable(value, _engine_value)


def _engine_value(value: Any) -> Any:
    if value.__class__.__name__ in ("NAType", "NaTType"):  # pandas' missing values
        return None
    return str(value)


def samples(frame: Any, columns: list[str] | None, example: Any) -> list:
    """The model's samples from the rows of a pandas DataFrame, shaped like its example: a dict of
    `columns` (default: the example's keys) for a dict example; else the one column's values, or
    a list of the columns' values per row."""
    names = list(columns) if columns else (list(example) if isinstance(example, dict) and
                                          set(example) <= set(frame.columns) else list(frame.columns))
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise KeyError(f"no column {', '.join(map(repr, missing))} among {list(frame.columns)}: name the model's "
                       "inputs (the example's keys) as columns, or pass columns=[...]")
    if isinstance(example, dict):
        return frame[names].to_dict("records")
    if len(names) == 1:
        return frame[names[0]].tolist()
    return frame[names].values.tolist()


def file_format(path: str) -> str:
    """What an engine reads a path or URI as: json (JSON Lines), csv, else parquet (a file or a folder)."""
    lowered = path.rstrip("/").lower()
    if lowered.endswith((".jsonl", ".json", ".ndjson")):
        return "json"
    if lowered.endswith(".csv"):
        return "csv"
    return "parquet"


def main(argv: list[str], engine: str, score_files: Any) -> int:
    """`python -m nbs2i_service.spark|ray OUT --input URI --output FOLDER`: what `nbs2i score --engine`
    runs, for an image that has the engine and OUT but not nbs2i's builder."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog=f"python -m nbs2i_service.{engine}")
    parser.add_argument("out", help="the build output (OUT; /opt/app-root in a model image)")
    parser.add_argument("--input", required=True, help="a path or URI the engine reads: Parquet, JSON Lines, CSV")
    parser.add_argument("--output", required=True, help="a folder for the JSON Lines of prediction and error")
    parser.add_argument("--format", choices=("parquet", "json", "csv"), help="default: from the input's name")
    if engine == "spark":
        parser.add_argument("--master", help="default: local[*] (or spark-submit's, and PYSPARK_SUBMIT_ARGS)")
    args = parser.parse_args(argv)
    extra = {"master": args.master} if engine == "spark" else {}
    try:
        counts = score_files(args.out, args.input, args.output, fmt=args.format, **extra)
    except Refused as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 3
    print(f"---> scored {counts['samples']:,} samples ({counts['errors']:,} errors) to {args.output}", file=sys.stderr)
    return 0
