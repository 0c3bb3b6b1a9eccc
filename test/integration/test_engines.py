"""The built model where the data lives: Spark (local[2], this machine's Java) and Ray Data (on
loopback), with the model in OUT/venv's own Python behind a pipe. The model is built with
scikit-learn 1.5.2 and the engines' Python has another scikit-learn: the answers say which one
scored them. 10,000 rows with rejected, malformed and raising samples score as `nbs2i score`
scores them, row for row, errors included."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test.helpers import build_notebook, build_env, nbs2i

pytestmark = pytest.mark.slow

MODEL_SKLEARN = "1.5.2"
CELLS = [f"requirements = ['scikit-learn=={MODEL_SKLEARN}']",
         "import numpy as np\nimport sklearn\nfrom sklearn.linear_model import LinearRegression\n"
         "rng = np.random.default_rng(0)\nX = rng.uniform(0, 100, size=(200, 2))\n"
         "model = LinearRegression().fit(X, 3 * X[:, 0] - 2 * X[:, 1] + 7)",
         "input_schema = {'type': 'object', 'required': ['a', 'b', 'kind'], 'properties': {\n"
         "    'a': {'type': 'number'}, 'b': {'type': 'number'}, 'kind': {'type': 'string'}}}",
         "def validator(sample):\n    return sample['kind'] != 'reject'",
         "def predictor(sample):\n    if sample['kind'] == 'boom':\n        raise ValueError(f\"boom at {sample['a']}\")\n"
         "    value = model.predict(np.array([[sample['a'], sample['b']]]))[0]\n"
         "    return {'value': round(float(value), 6), 'sklearn': sklearn.__version__}",
         "def batch_predictor(samples):\n    if any(s['kind'] == 'boom' for s in samples):\n"
         "        raise ValueError('a boom in the batch')\n"
         "    values = model.predict(np.array([[s['a'], s['b']] for s in samples]))\n"
         "    return [{'value': round(float(v), 6), 'sklearn': sklearn.__version__} for v in values]",
         "example = {'a': 1.0, 'b': 2.0, 'kind': 'ok'}"]
ROWS = 10_000


def _rows() -> list[dict]:
    rows = []
    for i in range(ROWS):
        kind = "reject" if i % 97 == 3 else "boom" if i % 101 == 5 else "ok"
        a = None if i % 89 == 7 else float(i % 1000) / 10  # null: the schema's "not of type 'number'"
        rows.append({"a": a, "b": float(i % 37), "kind": kind})
    return rows


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("engines")
    out = build_notebook(root, *CELLS, NBS2I_MODEL_NAME="lines")
    rows = _rows()
    source = root / "rows.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    scored = nbs2i("score", str(out), "--input", str(source), "--output", str(root / "expected.jsonl"))
    assert scored.returncode == 0, scored.stderr
    expected = [json.loads(line) for line in (root / "expected.jsonl").read_text().splitlines()]
    for record in expected:
        if "error" in record:
            record["error"].pop("line")  # an engine's rows have no line numbers
    return {"out": out, "rows": rows, "expected": expected, "root": root}


def test_the_expected_answers_hold_every_kind_of_row(built):
    import sklearn

    codes = [record["error"]["code"] for record in built["expected"] if "error" in record]
    assert {"rejected", "prediction_failed"} == set(codes) and len(codes) > 200
    assert any("'a': None" in str(r) or "None is not of type 'number'" in r["error"]["message"]
               for r in built["expected"] if "error" in r)
    assert built["expected"][0]["prediction"]["sklearn"] == MODEL_SKLEARN
    assert sklearn.__version__ != MODEL_SKLEARN  # the engines' Python has another scikit-learn


def _frame(rows):
    import pandas as pd

    return pd.DataFrame(rows).assign(id=range(len(rows)))


@pytest.fixture(scope="module")
def spark():
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # the executors' Python: pyspark, pandas, nbs2i_service
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("nbs2i tests").config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "2").getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _spark_records(rows) -> list[dict]:
    records = []
    for row in rows:
        if row.error is not None:
            records.append({"error": {"code": row.error.code, "message": row.error.message}})
        else:
            records.append({"prediction": json.loads(row.prediction)})  # a dict prediction: JSON text in Spark
    return records


def test_spark_udf_scores_as_nbs2i_score(built, spark):
    from pyspark.sql import functions as F

    from nbs2i_service.spark import spark_udf

    udf = spark_udf(spark, built["out"])
    df = spark.createDataFrame(_frame(built["rows"])).repartition(3)  # batches across tasks and workers
    scored = df.select("id", udf(F.struct("a", "b", "kind")).alias("s")).select("id", "s.*").orderBy("id").collect()
    assert _spark_records(scored) == built["expected"]


def test_ray_map_batches_scores_as_nbs2i_score(built):
    import ray

    from nbs2i_service.ray import Predictor

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        ds = ray.data.from_pandas(_frame(built["rows"]))
        scored = ds.map_batches(Predictor, fn_constructor_args=(str(built["out"]),), batch_format="pandas",
                                batch_size=1000, concurrency=2).take_all()
        tampered = _tampered(built, "ray")
        with pytest.raises(Exception) as raised:
            ds.map_batches(Predictor, fn_constructor_args=(str(tampered),), batch_format="pandas",
                           concurrency=1).take_all()
    finally:
        ray.shutdown()
    scored.sort(key=lambda row: row["id"])
    records = [{"error": row["error"]} if row["error"] is not None else {"prediction": row["prediction"]}
               for row in scored]
    assert records == built["expected"]
    assert "refusing to score" in str(raised.value) and "sha256" in str(raised.value)


def _tampered(built, name: str) -> Path:
    """A copy of OUT whose artifact changed after the build."""
    copy = built["root"] / f"tampered-{name}"
    if not copy.exists():
        shutil.copytree(built["out"], copy, symlinks=True)
        artifact = copy / "model" / "model.pkl"
        artifact.write_bytes(artifact.read_bytes() + b"\0")
    return copy


def test_a_tampered_or_unsigned_model_is_refused_on_the_executors(built, spark, tmp_path):
    from pyspark.sql import functions as F

    from nbs2i_service.spark import spark_udf

    df = spark.createDataFrame(_frame(built["rows"][:10]))
    with pytest.raises(Exception) as raised:
        df.select(spark_udf(spark, _tampered(built, "spark"))(F.struct("a", "b", "kind"))).collect()
    assert "refusing to score" in str(raised.value) and "sha256" in str(raised.value)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    public = tmp_path / "public.pem"
    public.write_bytes(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(Exception) as raised:  # the key goes to the executors as text: they have no driver files
        df.select(spark_udf(spark, built["out"], verify_key=public)(F.struct("a", "b", "kind"))).collect()
    assert "the model is unsigned (no model.sig)" in str(raised.value)


@pytest.mark.parametrize("engine", ["spark", "ray"])
def test_nbs2i_score_with_an_engine(built, engine, tmp_path):
    source = tmp_path / "rows.parquet"
    _frame(built["rows"]).drop(columns="id").to_parquet(source)
    target = tmp_path / "scored"
    result = nbs2i("score", str(built["out"]), "--engine", engine, "--input", str(source), "--output", str(target),
                   env=build_env(PYSPARK_PYTHON=sys.executable))
    assert result.returncode == 0, result.stderr[-3000:]
    errors = sum("error" in record for record in built["expected"])
    assert f"---> scored {ROWS:,} samples ({errors:,} errors) to {target}" in result.stderr
    parts = sorted(p for p in target.glob("*.json*") if not p.name.startswith("."))  # not Spark's .crc files
    found = [json.loads(line) for part in parts for line in part.read_text().splitlines()]
    records = [{"error": r["error"]} if r.get("error") else {"prediction": r["prediction"]} for r in found]
    if engine == "spark":  # Spark keeps the input's order and writes JSON text for a dict prediction
        assert [{"prediction": json.loads(r["prediction"])} if "prediction" in r else r for r in records] == \
            built["expected"]
    else:  # Ray's files come in no set order: the same records (its writer spells -0.0 as 0.0, equal numbers)
        key = lambda r: json.dumps(r, sort_keys=True).replace("-0.0,", "0.0,").replace("-0.0}", "0.0}")
        assert sorted(records, key=key) == sorted(built["expected"], key=key)


def test_nbs2i_score_with_an_engine_refuses_a_tampered_model(built, tmp_path):
    source = tmp_path / "rows.parquet"
    _frame(built["rows"][:20]).drop(columns="id").to_parquet(source)
    result = nbs2i("score", str(_tampered(built, "cli")), "--engine", "spark", "--input", str(source), "--output",
                   str(tmp_path / "scored"), env=build_env(PYSPARK_PYTHON=sys.executable))
    last = result.stderr.strip().splitlines()[-1]  # after Spark's own log of the failed task
    assert result.returncode == 3 and last.startswith("ERROR: refusing to score:") and "sha256" in last, last


def test_spark_submit_runs_the_application_file_every_out_carries(built, tmp_path):
    """What a cluster runs (docs/deploy.md): spark-submit with OUT/service/spark_score.py as the
    application, here with a local master."""
    rows = built["rows"][:300]
    source = tmp_path / "rows.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    submit = Path(sys.executable).parent / "spark-submit"
    app = Path(built["out"]) / "service" / "spark_score.py"
    result = subprocess.run([str(submit), "--master", "local[2]", "--conf", "spark.ui.enabled=false", str(app),
                             str(built["out"]), "--input", str(source), "--output", str(tmp_path / "scored")],
                            env=build_env(PYSPARK_PYTHON=sys.executable), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    errors = sum("error" in record for record in built["expected"][:300])
    # spark-submit passes the Python driver's stderr on to its own stdout
    assert f"---> scored 300 samples ({errors} errors)" in result.stdout
    parts = sorted(p for p in (tmp_path / "scored").glob("*.json*") if not p.name.startswith("."))
    found = [json.loads(line) for part in parts for line in part.read_text().splitlines()]
    assert [r["error"]["code"] if r.get("error") else json.loads(r["prediction"])["value"] for r in found] == \
        [r["error"]["code"] if "error" in r else r["prediction"]["value"] for r in built["expected"][:300]]
