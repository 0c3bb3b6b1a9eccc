"""Scoring on Spark: a built model as a pandas (Arrow) UDF, run by every executor in the model's
own environment.

    from nbs2i_service.spark import spark_udf
    udf = spark_udf(spark, "build/model")                       # ships OUT to the executors
    scored = df.withColumn("scored", udf(F.struct("area", "rooms", "city")))   # dict samples
    scored = df.withColumn("scored", udf("features"))          # an array column: list samples
    scored.select("scored.prediction", "scored.error.code")

The UDF's column is a struct: `prediction` (typed as the build's answer to `example` came out:
double, bigint, boolean, string or array<double>; JSON text otherwise, or with result="json")
and `error` (code, message: null when scored). Each Arrow batch goes, as JSON Lines, over a
pipe to OUT/venv's Python on the executor (pipe.py, engine.py), which checks and scores it as
`nbs2i score` scores a chunk: the schema and validator per sample, one batch_predictor call,
one error record per sample that is rejected or raises; a bad sample never fails the task. A
model that does not load or verify fails the task, with the reason.

OUT reaches the executors as an archive (`SparkContext.addArchive`, what `spark.archives` and
`--archives out.tar#alias` do), unpacked by each executor and found with SparkFiles; the same
way in local mode. Its venv keeps the absolute path of the base Python the build used, which
the executors need too (the image the build ran in, or the same OS image). The executors' own
Python (PYSPARK_PYTHON) needs pyspark, pandas, pyarrow and this package (nbs2i_service, which
imports nothing of the model's), not the notebook's packages.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from . import pipe

ERROR_FIELDS = ("code", "message")


def archive(out: str | Path, folder: str | Path | None = None) -> Path:
    """OUT as one uncompressed tar (what spark.archives / --archives take); made again whenever a
    file of OUT has changed (a changed OUT must reach the executors as it is, to be refused there)."""
    out = Path(out).resolve()
    build_id = json.loads((out / "model" / "metadata.json").read_text()).get("build_id", "model")
    seen = hashlib.sha256()
    for path in sorted(p for part in ("venv", "model", "service") for p in (out / part).rglob("*")):
        info = path.lstat()
        seen.update(f"{path.relative_to(out)}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    target = Path(folder or tempfile.gettempdir()) / f"nbs2i-{_safe(build_id)}-{seen.hexdigest()[:12]}.tar"
    if not target.exists():
        partial = target.with_suffix(".tar.partial")
        with tarfile.open(partial, "w") as tar:
            for part in ("venv", "model", "service"):
                for path in sorted([out / part, *(out / part).rglob("*")]):
                    name = str(path.relative_to(out))
                    inside = path.is_symlink() and out in path.resolve().parents
                    if path.is_symlink() and not inside:
                        # the venv's python links to the base interpreter, outside OUT: Spark refuses to unpack
                        # such a link, so the archive holds the interpreter itself (pyvenv.cfg still names home)
                        tar.add(path.resolve(), arcname=name)
                    else:
                        tar.add(path, arcname=name, recursive=False)
        partial.rename(target)
    return target


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", str(text))


def _key_text(path: str | Path | None, variable: str) -> str | None:
    chosen = path or os.environ.get(variable)
    return Path(chosen).read_text() if chosen else None


def result_type(example_prediction: Any, result: str = "typed"):
    """The Spark type of the UDF's struct, from the build's answer to `example`."""
    from pyspark.sql import types as T

    error = T.StructType([T.StructField(name, T.StringType()) for name in ERROR_FIELDS])
    kind = "json" if result == "json" else _kind(example_prediction)
    spark_type = {"double": T.DoubleType(), "bigint": T.LongType(), "boolean": T.BooleanType(), "string": T.StringType(),
                  "array<double>": T.ArrayType(T.DoubleType()), "json": T.StringType()}[kind]
    return T.StructType([T.StructField("prediction", spark_type), T.StructField("error", error)]), kind


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list) and value and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return "array<double>"
    return "json"


def typed(record: dict, kind: str) -> tuple[Any, dict | None]:
    """(prediction, error) of one answer in the column's type; a prediction that does not fit is an error."""
    if "error" in record:
        return None, {name: record["error"].get(name) for name in ERROR_FIELDS}
    value = record["prediction"]
    if kind == "json":
        return json.dumps(value), None
    fits = {"boolean": isinstance(value, bool), "string": isinstance(value, str),
            "bigint": isinstance(value, int) and not isinstance(value, bool),
            "double": isinstance(value, (int, float)) and not isinstance(value, bool),
            "array<double>": isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                             for v in value)}[kind]
    if not fits:
        return None, {"code": "unencodable_prediction",
                      "message": f"the prediction {json.dumps(value)[:200]} does not fit the column's type {kind} "
                                 "(the build's answer to example had it); spark_udf(..., result='json') keeps any "
                                 "prediction as JSON text"}
    if kind == "double":
        return float(value), None
    if kind == "array<double>":
        return [float(v) for v in value], None
    return value, None


def spark_udf(spark: Any, out: str | Path, *, columns: list[str] | None = None, result: str = "typed",
              verify_key: str | Path | None = None, verify_chain: str | Path | None = None):
    """The model of OUT as a pandas UDF of one struct column, `prediction` and `error`.

    Call it with a struct of the model's inputs (dict samples), an array column (list samples),
    one column (scalar samples), or several columns named by `columns`. verify_key /
    verify_chain (default NBS2I_VERIFY_KEY_FILE / _CHAIN_FILE): each executor refuses a model
    whose signature does not verify with it."""
    from pyspark.sql.functions import pandas_udf

    out = Path(out).resolve()
    meta = json.loads((out / "model" / "metadata.json").read_text())  # the build's record: nothing unpickled
    tar = archive(out)
    alias = tar.stem
    spark.sparkContext.addArchive(f"{tar}#{alias}")
    schema, kind = result_type(meta.get("example_prediction"), result)
    example, names = meta.get("example"), list(columns) if columns else None
    key, chain = _key_text(verify_key, "NBS2I_VERIFY_KEY_FILE"), _key_text(verify_chain, "NBS2I_VERIFY_CHAIN_FILE")

    def score(*given):
        import pandas as pd
        from pyspark import SparkFiles

        frame = given[0] if len(given) == 1 and isinstance(given[0], pd.DataFrame) else \
            pd.DataFrame({(names[i] if names else f"_{i}"): series.reset_index(drop=True)
                          for i, series in enumerate(given)})
        if isinstance(example, dict) and not isinstance(given[0], pd.DataFrame) and not names:
            raise ValueError("this model takes dict samples: call the UDF with F.struct(*columns), or name the "
                             "columns with spark_udf(..., columns=[...])")
        scorer = pipe.shared(SparkFiles.get(alias), key, chain)
        found = [typed(record, kind) for record in scorer.score(pipe.samples(frame, names or (
            None if isinstance(given[0], pd.DataFrame) else list(frame.columns)), example))]
        return pd.DataFrame({"prediction": [p for p, _ in found], "error": [e for _, e in found]})

    return pandas_udf(score, schema)


def score_files(out: str | Path, source: str, target: str, master: str | None = None, fmt: str | None = None) -> dict:
    """`nbs2i score OUT --engine spark`: read source (Parquet, JSON Lines, CSV: what Spark reads), score
    every row, write `prediction` and `error` as JSON Lines to the folder target (as Spark writes)."""
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    builder = SparkSession.builder.appName("nbs2i score")
    if master or not os.environ.get("SPARK_HOME"):
        builder = builder.master(master or "local[*]")
    if (master or "local").startswith("local"):  # local executors: this Python, which has pyspark and pandas
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = builder.getOrCreate()
    kind = fmt or pipe.file_format(source)
    reader = spark.read.option("header", "true").option("inferSchema", "true") if kind == "csv" else spark.read
    frame = {"parquet": reader.parquet, "json": reader.json, "csv": reader.csv}[kind](source)
    udf = spark_udf(spark, out)
    scored = frame.select(udf(F.struct(*frame.columns)).alias("scored")).select("scored.prediction", "scored.error")
    scored = scored.cache()
    try:
        counts = {"samples": scored.count(), "errors": scored.filter(F.col("error").isNotNull()).count()}
    except Exception as exc:  # a task's Refused reaches the driver as Spark's own error, its text inside
        raise pipe.refusal(exc) or exc from None
    scored.write.mode("overwrite").json(target)
    return counts


if __name__ == "__main__":
    import sys

    sys.exit(pipe.main(sys.argv[1:], "spark", score_files))
