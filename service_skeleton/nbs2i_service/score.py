"""`python -m nbs2i_service.score MODEL_DIR --input F --output F`: batch scoring of files.

JSON Lines or CSV in, JSON Lines out, in input order, one line per sample:
{"prediction": ...} or {"error": {"code", "message", "line"}}. Streams in chunks, so a file
larger than memory is fine; a bad sample never stops the run. `nbs2i score OUT` runs this
with the model's venv.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from typing import IO, Any, Iterator

from . import encode
from .config import load_config
from .errors import ServiceError
from .model import Model, SampleRejected, load_model

PROGRESS_EVERY_S = 0.5


def _csv_value(text: str) -> Any:
    """CSV cells are text; numbers become numbers and an empty cell becomes null."""
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def samples(stream: IO[str], fmt: str) -> Iterator[tuple[int, Any, dict | None]]:
    """(line number, sample, None) or (line number, None, error) for every input record."""
    if fmt == "csv":
        reader = csv.DictReader(stream)
        for row in reader:
            yield reader.line_num, {k: _csv_value(v) for k, v in row.items()}, None
        return
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            yield number, encode.loads(line.encode()), None
        except encode.DecodeError as exc:
            yield number, None, {"code": "malformed_json", "message": f"not valid JSON: {exc}"}


def _score_chunk(model: Model, chunk: list[tuple[int, Any, dict | None]]) -> list[dict]:
    answers: list[dict | None] = [None] * len(chunk)
    valid = []
    for i, (number, sample, error) in enumerate(chunk):
        if error is None:
            try:
                model.check(sample)
                valid.append(i)
                continue
            except SampleRejected as exc:
                error = {"code": "rejected", "message": exc.message}
        answers[i] = {"error": {**error, "line": number}}
    for i, result in zip(valid, model.score([chunk[i][1] for i in valid])):
        if isinstance(result, Exception):
            message = f"{type(result).__name__}: {result}"
            answers[i] = {"error": {"code": "prediction_failed", "message": message, "line": chunk[i][0]}}
        else:
            answers[i] = {"prediction": result}
    return answers  # type: ignore[return-value]


def _line(answer: dict) -> bytes:
    try:
        return encode.dumps(answer) + b"\n"
    except TypeError as exc:
        return encode.dumps({"error": {"code": "unencodable_prediction", "message": str(exc)}}) + b"\n"


def run(model: Model, source: IO[str], sink: IO[bytes], fmt: str, batch_size: int,
        progress: IO[str] | None = None, total_bytes: int | None = None) -> dict[str, int]:
    counts = {"samples": 0, "errors": 0}
    chunk: list = []
    last = started = time.monotonic()

    def flush() -> None:
        for answer in _score_chunk(model, chunk):
            sink.write(_line(answer))
            counts["errors"] += "error" in answer
        counts["samples"] += len(chunk)
        chunk.clear()

    for record in samples(source, fmt):
        chunk.append(record)
        if len(chunk) >= batch_size:
            flush()
            if progress is not None and time.monotonic() - last > PROGRESS_EVERY_S:
                last = time.monotonic()
                _progress(progress, counts, started, source, total_bytes)
    flush()
    if progress is not None:
        _progress(progress, counts, started, source, total_bytes)
        progress.write("\n")
    return counts


def _progress(out: IO[str], counts: dict, started: float, source: IO[str], total: int | None) -> None:
    rate = counts["samples"] / max(time.monotonic() - started, 1e-9)
    done = ""
    if total:
        try:
            done = f"{min(source.buffer.tell() / total, 1):4.0%} "  # type: ignore[attr-defined]
        except (AttributeError, OSError, ValueError):
            done = ""
    out.write(f"\r{done}{counts['samples']:,} samples, {counts['errors']:,} errors, {rate:,.0f}/s")
    out.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nbs2i score")
    parser.add_argument("model_dir")
    parser.add_argument("--input", required=True, help="JSON Lines or CSV file, - for stdin")
    parser.add_argument("--output", required=True, help="JSON Lines file, - for stdout")
    parser.add_argument("--format", choices=("jsonl", "csv"), help="default: from the input's extension")
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args(argv)
    fmt = args.format or ("csv" if args.input.lower().endswith(".csv") else "jsonl")
    try:
        model = load_model(args.model_dir, load_config().signing_key)
        source = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8", newline="")
        sink = sys.stdout.buffer if args.output == "-" else open(args.output, "wb")
    except (ServiceError, OSError) as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    total = None if args.input == "-" else _size(args.input)
    with source, sink:
        counts = run(model, source, sink, fmt, args.batch_size, sys.stderr if sys.stderr.isatty() else None, total)
    print(f"---> scored {counts['samples']:,} samples ({counts['errors']:,} errors) to {args.output}", file=sys.stderr)
    return 0


def _size(path: str) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None


if __name__ == "__main__":
    sys.exit(main())
