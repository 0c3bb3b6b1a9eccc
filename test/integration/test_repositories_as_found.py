"""Repositories as they are found, modeled on public ones nbs2i was tried on: a notebook beside
the requirements of the web app that once served its model, a `pip freeze` made on Windows, a
lock of 2021 that today's Python cannot install. Each builds for real and answers.
"""
from __future__ import annotations

import json

from test.helpers import Service, build_ok, request, write_notebook

import pytest

pytestmark = pytest.mark.slow

TRAIN = ("import pandas as pd\nfrom sklearn.linear_model import LinearRegression",
         "homes = pd.DataFrame({'area': [1.0, 2.0, 3.0], 'price': [10.0, 20.0, 30.0]})\n"
         "model = LinearRegression().fit(homes[['area']], homes.price)",
         "def predictor(sample):\n    return round(float(model.predict(pd.DataFrame([sample]))[0]), 6)",
         "example = {'area': 4.0}")


def _meta(out):
    return json.loads((out / "model" / "metadata.json").read_text())


def _versions(packages):
    return {p.split("==")[0].lower(): p.split("==")[1] for p in packages if "==" in p}


def test_the_requirements_of_a_web_app_beside_the_notebook(tmp_path):
    # app.py once served the pickle with Flask; requirements.txt is the app's: a Flask older than
    # the service's, and no pandas, though the notebook trains with it
    src = tmp_path / "src"
    write_notebook(src, *TRAIN)
    (src / "requirements.txt").write_text("Flask==2.0.1\nWerkzeug==2.0.1\nJinja2==3.0.1\nitsdangerous==2.0.1\n"
                                          "click==8.0.1\ngunicorn==20.1.0\nscikit-learn\n")
    log = build_ok(src, tmp_path / "out")
    assert ("adding the packages of those well-known import names: pandas (imported in cell 1, not declared)") in log
    meta = _meta(tmp_path / "out")
    built, served = _versions(meta["build_packages"]), _versions(meta["packages"])
    assert built["flask"] == "2.0.1" and built["gunicorn"] == "20.1.0"  # the notebook ran beside its app's pins
    assert int(served["flask"].split(".")[0]) >= 3 and int(served["gunicorn"].split(".")[0]) >= 23  # the service's
    assert served["pandas"] == built["pandas"] and served["scikit-learn"] == built["scikit-learn"]
    assert meta["added_for_imports"] == [{"name": "pandas", "installed": built["pandas"],
                                          "because": "imported in cell 1, not declared"}]
    with Service(tmp_path / "out", workers=1) as svc:
        assert request(svc.url + "/predict", {"area": 5.0})[2]["prediction"] == 50.0


def test_a_pip_freeze_made_on_windows(tmp_path):
    # pywin32 has no release for Linux; `sklearn` is PyPI's placeholder that refuses to install
    src = tmp_path / "src"
    write_notebook(src, *TRAIN)
    (src / "requirements.txt").write_text("pandas\npywin32==306\nsklearn\ncolorama==0.4.6\n")
    log = build_ok(src, tmp_path / "out")
    assert "pywin32==306 (requirements.txt line 2) is for one operating system only" in log
    assert "PyPI's 'sklearn' is a placeholder for scikit-learn" in log
    built = _versions(_meta(tmp_path / "out")["build_packages"])
    assert "pywin32" not in built and "sklearn" not in built and "scikit-learn" in built
    with Service(tmp_path / "out", workers=1) as svc:
        assert request(svc.url + "/predict", {"area": 2.5})[2]["prediction"] == 25.0


def test_relaxed_pins_whose_nearest_releases_do_not_install_together(tmp_path):
    # typing-extensions 4.0.0 installs on today's Python and stays, but the unpinned pydantic of
    # today needs a newer one, and no pydantic>=2.10 existed in its era: lower bounds, newest, win
    src = tmp_path / "src"
    write_notebook(src, 'requirements = ["typing-extensions==4.0.0", "pydantic>=2.10"]',
                   "import pydantic\n\nclass Home(pydantic.BaseModel):\n    area: float",
                   "def predictor(sample):\n    return Home(**sample).area * 10", "example = {'area': 1.5}")
    log = build_ok(src, tmp_path / "out", NBS2I_RELAX_PINS="1")
    assert "NBS2I_RELAX_PINS: these pins install as they are and stay: typing-extensions==4.0.0" in log
    assert "NBS2I_RELAX_PINS: the nearest releases with the rest as of 2021-11-1" in log
    assert "did not install; trying lower bounds (>=) with the rest as of 2021-11-1" in log
    assert "did not install; trying lower bounds (>=) with the rest newest" in log
    meta = _meta(tmp_path / "out")
    assert meta["relaxed_pins"][0]["installed_as"] == ">=4.0.0" and "unpinned_as_of" not in meta
    with Service(tmp_path / "out", workers=1) as svc:
        assert request(svc.url + "/predict", {"area": 2})[2]["prediction"] == 20.0


def test_a_demo_notebook_that_installs_its_own_repository(tmp_path):
    # a research repository: a package under src/, its demo notebook in notebooks/ that begins
    # with `!pip install -e ..`; the package's own dependency comes with it
    src = tmp_path / "src"
    (src / "src" / "homes").mkdir(parents=True)
    (src / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "homes"\nversion = "0.1"\ndependencies = ["tabulate"]\n'
        '[tool.setuptools.packages.find]\nwhere = ["src"]\n')
    (src / "src" / "homes" / "__init__.py").write_text(
        "import tabulate\n\ndef price(area):\n    return 10 * area\n\ndef table(rows):\n"
        "    return tabulate.tabulate(rows)\n")
    write_notebook(src / "notebooks", "!pip install -e ..", "from homes import price, table",
                   "def predictor(sample):\n    return {'price': price(sample), 'table': table([[sample]])}",
                   "example = 2", name="demo.ipynb")
    log = build_ok(src, tmp_path / "out", "--notebook", "notebooks/demo.ipynb")
    assert f"-e {src}  (demo.ipynb cell 1 (pip install))" in log
    served = _meta(tmp_path / "out")["packages"]
    assert any(p.startswith("homes") for p in served) and any(p.startswith("tabulate==") for p in served)
    with Service(tmp_path / "out", workers=1) as svc:
        assert request(svc.url + "/predict", 3)[2]["prediction"] == {"price": 30, "table": "-\n3\n-"}


def test_a_cookiecutter_layout_notebooks_beside_src(tmp_path):
    # cookiecutter-data-science: the notebook in notebooks/ reaches src/ through sys.path, data in data/
    src = tmp_path / "src"
    (src / "src" / "features").mkdir(parents=True)
    (src / "src" / "features" / "__init__.py").write_text("")
    (src / "src" / "features" / "build_features.py").write_text(
        "def area_of(row):\n    return row['width'] * row['depth']\n")
    (src / "data" / "raw").mkdir(parents=True)
    (src / "data" / "raw" / "homes.csv").write_text("width,depth,price\n1,2,20\n2,2,40\n3,1,30\n")
    write_notebook(src / "notebooks", "import os, sys\nsys.path.append(os.path.abspath(os.path.join('..', 'src')))",
                   "import pandas as pd\nfrom features.build_features import area_of\n"
                   "homes = pd.read_csv('../data/raw/homes.csv')\nper_area = (homes.price / homes.apply(area_of, axis=1)).mean()",
                   "def predictor(sample):\n    return float(area_of(sample) * per_area)", "example = {'width': 1, 'depth': 1}",
                   name="1.0-train.ipynb")
    build_ok(src, tmp_path / "out", "--notebook", "notebooks/1.0-train.ipynb")
    assert _meta(tmp_path / "out")["inferred_requirements"] == ["pandas"]  # features is the repository's own
    with Service(tmp_path / "out", workers=1) as svc:
        assert request(svc.url + "/predict", {"width": 2, "depth": 3})[2]["prediction"] == 60.0
