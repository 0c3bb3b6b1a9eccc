"""Every example builds unchanged with `nbs2i build` and answers its example plus two more
samples with sane values, through a real gunicorn."""
from __future__ import annotations

import pytest

import os
from pathlib import Path

from test.helpers import NOTEBOOK_TOOLING, REPO, Service, build_env, nbs2i, request, served_distributions

pytestmark = pytest.mark.slow


def _iris_tree(url):
    status, _, body = request(url + "/predict", {"sepal_length": 6.9, "sepal_width": 3.1, "petal_length": 5.4,
                                                 "petal_width": 2.1})
    assert status == 200 and body["prediction"]["species"] == "virginica"
    assert abs(sum(body["prediction"]["probabilities"].values()) - 1) < 1e-3
    status, _, body = request(url + "/predict", {"sepal_length": 5.9, "sepal_width": 2.8, "petal_length": 4.2,
                                                 "petal_width": 1.3})
    assert body["prediction"]["species"] == "versicolor"
    status, _, body = request(url + "/predict", {"sepal_length": 5.9, "sepal_width": 2.8, "petal_length": 4.2})
    assert status == 422 and "'petal_width' is a required property" in body["error"]["message"]


def _iris_knn(url):
    assert request(url + "/predict", {"input": [5.0, 3.4, 1.5, 0.2]})[2] == {"prediction": "setosa"}
    assert request(url + "/predict", {"input": [6.0, 2.7, 4.1, 1.3]})[2] == {"prediction": "versicolor"}
    status, _, body = request(url + "/predict", {"input": [1, 2]})
    assert status == 422 and body["error"]["details"]["path"] == "$.input"


def _propensity(url):
    flags = {f"G{i}": 0 for i in range(1, 11)}
    base = request(url + "/predict", flags)[2]["prediction"]["propensity"]
    with_g3 = request(url + "/predict", flags | {"G3": 1})[2]["prediction"]["propensity"]
    with_g9 = request(url + "/predict", flags | {"G9": True})[2]["prediction"]["propensity"]
    assert 0 < base < with_g3 < 1 and with_g3 - base > 0.2  # G3, the strongest flag, raises it most
    assert with_g9 < base
    assert request(url + "/predict", flags | {"G11": 1})[0] == 422


def _batch_vectorised(url):
    samples = [{"area_m2": 90, "rooms": 3, "age_years": 20, "distance_km": 5},
               {"area_m2": 200, "rooms": 6, "age_years": 2, "distance_km": 1},
               {"area_m2": 60, "rooms": 1, "age_years": 40, "distance_km": 10}]
    singles = [request(url + "/predict", s)[2]["prediction"] for s in samples]
    batch = request(url + "/predict/batch", {"instances": samples})[2]["predictions"]
    assert batch == pytest.approx(singles)
    assert singles[1] > singles[0] > singles[2] > 0  # bigger, newer, closer is dearer


def _name_classifier(url):
    known = {"English", "French", "German", "Italian", "Japanese", "Russian"}
    for name, language in (("Nakamura", "Japanese"), ("Romanov", "Russian"), ("Baumann", "German")):
        status, _, body = request(url + "/predict", {"name": name})
        assert status == 200, body
        top = body["prediction"]
        assert len(top) == 3 and {pair[1] for pair in top} <= known
        assert top[0][1] == language and top[0][0] >= top[1][0] >= top[2][0]


EXAMPLES = {"iris-tree": _iris_tree, "iris-knn": _iris_knn, "propensity": _propensity,
            "batch-vectorised": _batch_vectorised, "name-classifier": _name_classifier}


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_example_builds_and_answers(name, tmp_path):
    out = tmp_path / "out"
    env = build_env()
    if name == "name-classifier" and not os.environ.get("PIP_FIND_LINKS"):
        # torch's CPU build is not on PyPI; these machines keep it in /opt/wheels (pip.conf's find-links)
        assert list(Path("/opt/wheels").glob("torch-2.13.0+cpu-*.whl")), "needs torch 2.13.0+cpu via PIP_FIND_LINKS"
        env["PIP_FIND_LINKS"] = "/opt/wheels"
    result = nbs2i("build", str(REPO / "examples" / name), "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    assert not served_distributions(out) & NOTEBOOK_TOOLING
    with Service(out, workers=1) as svc:
        status, _, body = request(svc.url + "/metadata")
        assert body["model_name"] == name
        status, _, answer = request(svc.url + "/predict", body["example"])
        assert status == 200, answer
        EXAMPLES[name](svc.url)


def test_every_example_is_tested_and_documented():
    folders = {p.name for p in (REPO / "examples").iterdir() if p.is_dir() and any(p.glob("*.ipynb"))}
    assert folders - {"kmeans"} == set(EXAMPLES)
    listed = (REPO / "docs" / "examples.md").read_text()
    for folder in folders:
        assert f"examples/{folder}" in listed
        assert "curl" in (REPO / "examples" / folder / "README.md").read_text()
