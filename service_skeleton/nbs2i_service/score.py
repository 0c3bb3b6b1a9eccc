"""`python -m nbs2i_service.score MODEL_DIR --input F --output F`: batch scoring of files.

JSON Lines or CSV in, JSON Lines out, in input order, one line per sample:
{"prediction": ...} or {"error": {"code", "message", "line"}}. Streams in chunks, so a file
larger than memory is fine; a bad sample never stops the run. `nbs2i score OUT` runs this
with the model's venv.

Sharding (a Kubernetes Indexed Job, deploy/kubernetes/score-job.yaml): `--shard I/N`
(default: JOB_COMPLETION_INDEX / JOB_COMPLETIONS when set) scores the I-th (from 0) of N
contiguous ranges of a JSON Lines input. Ranges are cut at byte offsets size*I/N, moved to
the next line start, so a shard seeks to its range and never reads the rest of the file. Each
shard writes OUTPUT.part-IIIII-of-NNNNN and, last, a `.done` record of how many input lines
it read. `--merge` joins the parts in input order into OUTPUT, turning each error's line
number (counted within its part) into the input's; the result equals one process's output.
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
from .errors import REFUSED, ModelLoadError, ServiceError
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


def score_chunk(model: Model, chunk: list[tuple[int, Any, dict | None]]) -> list[dict]:
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


def answer_line(answer: dict) -> bytes:
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
        for answer in score_chunk(model, chunk):
            sink.write(answer_line(answer))
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


class ShardError(ValueError):
    """A shard or merge request that cannot be carried out; the message says why and what to do."""


def parse_shard(text: str | None, environ: dict | None = None) -> tuple[int, int] | None:
    """(index, count) from "I/N", else from JOB_COMPLETION_INDEX and JOB_COMPLETIONS; None: no sharding."""
    env = os.environ if environ is None else environ
    if not text and env.get("JOB_COMPLETION_INDEX") and env.get("JOB_COMPLETIONS"):
        text = f"{env['JOB_COMPLETION_INDEX']}/{env['JOB_COMPLETIONS']}"
    if not text:
        return None
    index, _, count = text.partition("/")
    if not (index.strip().isdigit() and count.strip().isdigit()) or not 0 <= int(index) < int(count):
        raise ShardError(f"--shard {text!r}: write I/N with 0 <= I < N, e.g. --shard 0/3.")
    return int(index), int(count)


def shard_range(handle: IO[bytes], size: int, index: int, count: int) -> tuple[int, int]:
    """Byte range [start, end) of shard index: cut at size*index/count, moved to the next line start."""
    def line_start(offset: int) -> int:
        if offset <= 0:
            return 0
        if offset >= size:
            return size
        handle.seek(offset - 1)
        handle.readline()  # to the end of the line that holds byte offset-1
        return handle.tell()
    return line_start(size * index // count), line_start(size * (index + 1) // count)


def _lines(handle: IO[bytes], start: int, end: int, counted: list[int]) -> Iterator[str]:
    handle.seek(start)
    while handle.tell() < end:
        line = handle.readline()
        if not line:
            break
        counted[0] += 1
        yield line.decode("utf-8", errors="replace")


def part_name(output: str, index: int, count: int) -> str:
    return f"{output}.part-{index:05d}-of-{count:05d}"


def score_shard(model: Model, path: str, output: str, shard: tuple[int, int], batch_size: int) -> dict[str, int]:
    index, count = shard
    part = part_name(output, index, count)
    counted = [0]
    with open(path, "rb") as handle, open(part, "wb") as sink:
        start, end = shard_range(handle, os.fstat(handle.fileno()).st_size, index, count)
        counts = run(model, _lines(handle, start, end, counted), sink, "jsonl", batch_size)
    done = {"input_lines": counted[0], "first_byte": start, "end_byte": end, **counts}
    with open(part + ".done", "w", encoding="utf-8") as marker:
        marker.write(encode.dumps(done).decode())
    return done


def merge(output: str) -> dict[str, int]:
    """Join OUTPUT.part-*-of-N (all N, each with its .done record) into OUTPUT in input order."""
    folder = os.path.dirname(os.path.abspath(output))
    prefix = os.path.basename(output) + ".part-"
    names = sorted(n for n in os.listdir(folder) if n.startswith(prefix) and not n.endswith(".done"))
    if not names:
        raise ShardError(f"No parts {output}.part-*-of-* to merge: run the shards first (--shard I/N).")
    count = int(names[0].rsplit("-of-", 1)[1])
    expected = [os.path.basename(part_name(output, i, count)) for i in range(count)]
    missing = [n for n in expected if n not in names or not os.path.exists(os.path.join(folder, n + ".done"))]
    if missing:
        raise ShardError(f"{len(missing)} of {count} parts are missing or unfinished ({', '.join(missing[:3])}"
                         f"{'...' if len(missing) > 3 else ''}): rerun those shards, then --merge.")
    offset, totals = 0, {"samples": 0, "errors": 0}
    with open(output, "wb") as sink:
        for name in expected:
            with open(os.path.join(folder, name + ".done"), "rb") as marker:
                done = encode.loads(marker.read())
            with open(os.path.join(folder, name), "rb") as part:
                for line in part:
                    if offset and line.startswith(b'{"error"'):
                        answer = encode.loads(line)
                        if isinstance(answer["error"].get("line"), int):
                            answer["error"]["line"] += offset
                        line = answer_line(answer)
                    sink.write(line)
            offset += done["input_lines"]
            totals["samples"] += done["samples"]
            totals["errors"] += done["errors"]
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nbs2i score")
    parser.add_argument("model_dir", nargs="?", help="the model folder (not needed with --merge)")
    parser.add_argument("--input", help="JSON Lines or CSV file, - for stdin")
    parser.add_argument("--output", required=True, help="JSON Lines file, - for stdout")
    parser.add_argument("--format", choices=("jsonl", "csv"), help="default: from the input's extension")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--shard", help="I/N: score the I-th (from 0) of N line ranges of a JSON Lines input into "
                        "OUTPUT.part-I-of-N (default: JOB_COMPLETION_INDEX/JOB_COMPLETIONS when both are set)")
    parser.add_argument("--merge", action="store_true", help="join OUTPUT.part-*-of-N into OUTPUT in input order")
    args = parser.parse_args(argv)
    try:
        if args.merge:
            counts = merge(args.output)
            print(f"---> merged {counts['samples']:,} samples ({counts['errors']:,} errors) into {args.output}",
                  file=sys.stderr)
            return 0
        if not args.model_dir or not args.input:
            parser.error("give the model folder and --input (or --merge --output F)")
        fmt = args.format or ("csv" if args.input.lower().endswith(".csv") else "jsonl")
        shard = parse_shard(args.shard)
        if shard is not None and (fmt != "jsonl" or args.input == "-" or args.output == "-"):
            raise ShardError("--shard reads a JSON Lines file and writes a file: CSV and - (stdin, stdout) "
                             "cannot be split by byte offsets. Convert the input to JSON Lines.")
        config = load_config()
        model = load_model(args.model_dir, config.verify_key_file, verify_chain=config.verify_chain_file)
        if shard is not None:
            counts = score_shard(model, args.input, args.output, shard, args.batch_size)
            print(f"---> shard {shard[0]}/{shard[1]}: scored {counts['samples']:,} samples ({counts['errors']:,} errors) "
                  f"to {part_name(args.output, *shard)}", file=sys.stderr)
            return 0
        source = sys.stdin if args.input == "-" else open(args.input, encoding="utf-8", newline="")
        sink = sys.stdout.buffer if args.output == "-" else open(args.output, "wb")
    except ModelLoadError as exc:  # refused, as the service refuses it (docs/api.md)
        print(f"ERROR: refusing to score: {exc}", file=sys.stderr)
        return REFUSED
    except (ServiceError, ShardError, OSError) as exc:
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
