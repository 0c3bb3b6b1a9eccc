"""The reference profile (profile.py), the shared drift window (drift.py) and /drift: PSI near 0
for samples like the training data, far above the threshold for a shifted feature, and nothing
a client sends raises."""
from __future__ import annotations

import json
import os
import random

import pytest
from hypothesis import given, settings, strategies as st

from nbs2i_service import profile, reference
from nbs2i_service.app import create_app
from nbs2i_service.config import load_config
from nbs2i_service.drift import Drift, psi
from nbs2i_service.model import Model
from test.unit.service_fixtures import serve

COLOURS = ["red", "green", "blue"]


def _training(n: int = 2000, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    return [{"age": rng.gauss(40, 10), "colour": rng.choice(COLOURS), "rooms": rng.randint(1, 5)} for _ in range(n)]


def _profile(rows: list[dict], example: dict | None = None) -> dict:
    found = reference.Found("train", rows, len(rows), "test")
    return profile.make(found, example or rows[0], lambda samples: [s["age"] > 40 for s in samples])


def test_a_numeric_feature_keeps_decile_bins_that_are_no_rows_value():
    rows = _training()
    age = _profile(rows)["features"][0]
    assert age["kind"] == "numeric" and len(age["edges"]) == 9 and age["missing"] == 0
    assert sum(age["shares"]) == pytest.approx(1) and all(0.08 < s < 0.12 for s in age["shares"])
    values = {r["age"] for r in rows}
    assert not values & set(age["edges"])


def test_categories_and_few_valued_numbers_are_categorical_with_other_and_missing():
    rows = [{"c": str(i % 30) if i % 10 else None} for i in range(3000)]
    made = profile.describe("c", [r["c"] for r in rows])
    assert made["kind"] == "categorical" and len(made["values"]) == 20
    assert made["missing"] == pytest.approx(0.1) and made["other"] > 0
    assert made["other"] + made["missing"] + sum(made["shares"]) == pytest.approx(1)
    rooms = _profile(_training())["features"][2]
    assert rooms["kind"] == "categorical" and sorted(rooms["values"]) == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_the_model_answers_are_profiled_as_the_features_are():
    prediction = _profile(_training())["prediction"]
    assert prediction["kind"] == "categorical" and set(prediction["values"]) == {True, False}
    assert prediction["rows"] == 2000


def _drift(window: int = 1000) -> Drift:
    return Drift(_profile(_training()), window, 0.25, "m")


def test_samples_like_the_training_data_stay_under_0_1_and_a_shifted_feature_drifts():
    drift = _drift()
    like = _training(1000, seed=7)
    drift.observe(like, [s["age"] > 40 for s in like])
    report = drift.report()
    assert report["window"] == {"size": 1000, "samples": 1000}
    assert all(f["psi"] < 0.1 for f in report["features"]) and report["prediction"]["psi"] < 0.1
    shifted = [{**s, "age": s["age"] + 30} for s in _training(1000, seed=8)]
    drift.observe(shifted, [True] * 1000)  # the window holds the last 1000: all shifted now
    report = drift.report()
    by_name = {f["name"]: f for f in report["features"]}
    assert by_name["age"]["psi"] > 0.25 and by_name["age"]["drifted"] and report["drifted"] == ["age"]
    assert by_name["colour"]["psi"] < 0.1 and by_name["rooms"]["psi"] < 0.1
    assert report["prediction"]["drifted"]


def test_the_window_holds_the_last_samples_only():
    drift = _drift(window=10)
    drift.observe([{"age": 40.0, "colour": "red", "rooms": 1}] * 25, [True] * 25)
    colour = drift.report()["features"][1]
    assert drift.report()["window"]["samples"] == 10 and colour["samples"] == 10
    assert colour["window"][colour["bins"].index("red")] == 1.0


def test_missing_keys_wrong_types_and_failed_predictions_have_their_bins():
    drift = _drift(window=10)
    drift.observe([{"colour": "purple", "age": "forty"}], [None], [False])
    features = {f["name"]: f for f in drift.report()["features"]}
    assert features["rooms"]["window"][0] == 1.0  # missing
    assert features["age"]["window"][1] == 1.0 and features["colour"]["window"][1] == 1.0  # other
    assert drift.report()["prediction"]["samples"] == 0  # a failed prediction counts nowhere


@settings(max_examples=200, deadline=None)
@given(sample=st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                                       max_size=4), max_leaves=12))
def test_nothing_a_client_sends_raises(sample):
    drift = _drift(window=10)
    drift.observe([sample], [sample])
    assert drift.report()["window"]["samples"] == 1


def test_every_forked_worker_adds_to_one_window():
    drift = _drift(window=100)
    children = []
    for _ in range(3):
        pid = os.fork()
        if pid == 0:
            drift.observe(_training(10), [True] * 10)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    assert drift.report()["window"]["samples"] == 30


def test_a_small_window_shows_psi_but_calls_nothing_drifted():
    drift = _drift()
    drift.observe([{**s, "age": s["age"] + 30} for s in _training(99, seed=9)], [True] * 99)
    age = drift.report()["features"][0]
    assert age["psi"] > 0.25 and not age["drifted"]
    drift.observe([{**s, "age": s["age"] + 30} for s in _training(1, seed=10)], [True])
    assert drift.report()["features"][0]["drifted"]


def test_psi_of_identical_shares_is_zero_and_grows_with_the_shift():
    assert psi([0.5, 0.5], [50, 50]) == 0
    assert psi([0.5, 0.5], [60, 40]) < psi([0.5, 0.5], [90, 10])


def _served(tmp_path, env: dict | None = None):
    rows = _training()
    meta = {"model_name": "m", "example": rows[0]}
    m = Model({"predictor": lambda s: s["age"] > 40}, meta)
    m.profile = _profile(rows)
    return serve(create_app(m, load_config(env or {})))


def test_drift_shows_in_the_json_and_in_prometheus(tmp_path):
    c = _served(tmp_path)
    for sample in _training(50, seed=3):
        assert c.post("/predict", json=sample).status_code == 200
    report = c.get("/drift").get_json()
    assert report["enabled"] and report["window"]["samples"] == 50 and report["reference"]["variable"] == "train"
    assert [f["name"] for f in report["features"]] == ["age", "colour", "rooms"]
    assert report["features"][1]["bins"] == ["missing", "other", *report["features"][1]["bins"][2:]]
    lines = c.get("/metrics").get_data(as_text=True).splitlines()
    assert 'nbs2i_drift_window_samples{model="m"} 50' in lines
    assert any(line.startswith('nbs2i_feature_drift{model="m",feature="age"} ') for line in lines)
    assert any(line.startswith('nbs2i_prediction_drift{model="m"} ') for line in lines)
    c.post("/predict", json={"age": "x"})  # rejected? no schema here: scored, counted as "other"
    assert c.get("/drift").get_json()["window"]["samples"] == 51


def test_a_rejected_sample_stays_out_of_the_window(tmp_path):
    rows = _training()
    m = Model({"predictor": lambda s: 1, "validator": lambda s: s.get("age", 0) > 0}, {"model_name": "m",
                                                                                     "example": rows[0]})
    m.profile = _profile(rows)
    c = serve(create_app(m, load_config({})))
    assert c.post("/predict", json={"age": -1}).status_code == 422
    assert c.post("/predict/batch", json={"instances": [rows[1], rows[2]]}).status_code == 200
    assert c.get("/drift").get_json()["window"]["samples"] == 2


def test_drift_off_says_why(tmp_path):
    assert _served(tmp_path, {"NBS2I_DRIFT": "0"}).get("/drift").get_json() == {
        "model": "m", "enabled": False, "reason": "NBS2I_DRIFT=0 turned drift off"}
    m = Model({"predictor": len}, {"model_name": "m", "reference_off": "no reference data: ..."})
    assert serve(create_app(m, load_config({}))).get("/drift").get_json()["reason"] == "no reference data: ..."
    assert "nbs2i_feature_drift" not in serve(create_app(m, load_config({}))).get("/metrics").get_data(as_text=True)


def test_the_profile_holds_no_training_row(tmp_path):
    rows = _training()
    text = json.dumps(_profile(rows))
    assert not any(repr(r["age"]) in text for r in rows)
