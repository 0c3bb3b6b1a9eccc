"""Scoring on Ray Data: a built model as a callable class for `Dataset.map_batches`, run by each
Ray worker in the model's own environment.

    from nbs2i_service.ray import Predictor
    scored = ds.map_batches(Predictor, fn_constructor_args=("build/model",), batch_format="pandas",
                            concurrency=2)

Each batch (a pandas DataFrame) gains two columns: `prediction` and `error` (a dict of code and
message; None when scored). The samples are shaped like the build's example: a dict of the
example's keys (or `columns=`), else the one column's values or a list of the columns' values
per row. The batch goes, as JSON Lines, over a pipe to OUT/venv's Python (pipe.py, engine.py),
which checks and scores it as `nbs2i score` scores a chunk; a bad sample never fails the batch.
A model that does not load or verify fails the actor, with the reason. OUT must be readable at
the same path on every Ray node (a shared volume, or the image the nodes run); the workers'
Python needs ray, pandas and this package, not the notebook's packages.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from . import pipe


class Predictor:
    def __init__(self, out: str | Path, columns: list[str] | None = None, verify_key: str | Path | None = None,
                 verify_chain: str | Path | None = None):
        key = verify_key or os.environ.get("NBS2I_VERIFY_KEY_FILE")
        chain = verify_chain or os.environ.get("NBS2I_VERIFY_CHAIN_FILE")
        self.scorer = pipe.Scorer(Path(out).resolve(), Path(key).read_text() if key else None,
                                  Path(chain).read_text() if chain else None)
        self.columns, self.example = columns, self.scorer.info.get("example")

    def __call__(self, batch: Any) -> Any:
        found = self.scorer.score(pipe.samples(batch, self.columns, self.example))
        batch = batch.copy()
        batch["prediction"] = [record.get("prediction") for record in found]
        batch["error"] = [record.get("error") for record in found]
        return batch


def score_files(out: str | Path, source: str, target: str, fmt: str | None = None) -> dict:
    """`nbs2i score OUT --engine ray`: read source (Parquet, JSON Lines, CSV: what Ray Data reads), score
    every row, write `prediction` and `error` as JSON Lines files into the folder target."""
    import ray

    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS") or None, include_dashboard=False, log_to_driver=False)
    kind = fmt or pipe.file_format(source)
    ds = {"parquet": ray.data.read_parquet, "json": ray.data.read_json, "csv": ray.data.read_csv}[kind](source)
    # One CPU stays free for reading and writing: actors that held them all would wait for those tasks forever.
    actors = max(1, int(ray.available_resources().get("CPU", 1)) - 1)
    scored = ds.map_batches(Predictor, fn_constructor_args=(str(out),), batch_format="pandas", concurrency=actors)
    try:
        scored.select_columns(["prediction", "error"]).write_json(target)
    except Exception as exc:  # an actor's Refused reaches the driver as Ray's own error, its text inside
        raise pipe.refusal(exc) or exc from None
    counts = {"samples": 0, "errors": 0}
    for part in Path(target).glob("*.json*"):  # counted from what was written: no second pass of the engine
        for line in part.read_text().splitlines():
            counts["samples"] += 1
            counts["errors"] += json.loads(line).get("error") is not None
    return counts


if __name__ == "__main__":
    import sys

    sys.exit(pipe.main(sys.argv[1:], "ray", score_files))
