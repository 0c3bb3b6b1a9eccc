"""Requirements as real repositories write them: merged mentions, pip's file format, conda's
environment.yml, lock files, old pins, and notebooks that declare nothing. One behaviour
each; each builds for real, and serves where the answer shows what was installed.
"""
from __future__ import annotations

import json

from test.helpers import Service, build_env, build_ok, nbs2i, predict, request, write_notebook

import pytest

pytestmark = pytest.mark.slow
# The predictor imports the packages it reports, so the served environment (derived from what
# the model uses) holds them; it answers with the versions installed there.
VERSIONS = ("def predictor(sample):\n    from importlib.metadata import version\n    try:\n"
            "        import tabulate, six, markupsafe\n    except ImportError:\n        pass\n"
            "    return {name: version(name) for name in sample}")




def test_pinned_unpinned_and_case_variant_mentions_build(tmp_path):
    write_notebook(tmp_path / "src", "!pip install tabulate MarkupSafe",
                   'requirements = [["tabulate", "0.9.0"], ["markupsafe", "2.1.5"]]', VERSIONS)
    log = build_ok(tmp_path / "src", tmp_path / "out")
    assert "tabulate==0.9.0  (model.ipynb cell 1 (pip install); model.ipynb cell 2)" in log
    assert predict(tmp_path / "out", ["tabulate", "markupsafe"]) == {"tabulate": "0.9.0", "markupsafe": "2.1.5"}


REPOSITORY_FILES = {  # one repository layout each: files, a line the build log must show, what gets installed
    "pipenv_requirements_txt": (
        {"requirements.txt": "-i https://pypi.org/simple\n-r base.txt\n"
                             "six==1.16.0 ; python_version >= '2.7' and python_version not in '3.0, 3.1, 3.2'\n"
                             "colorama==0.4.6 ; sys_platform == 'win32'\n",
         "base.txt": "tabulate==0.9.0 \\\n    --hash=sha256:0000\n"},
        "Package index: https://pypi.org/simple (from requirements.txt line 1)", {"six": "1.16.0", "tabulate": "0.9.0"}),
    "environment_yml_only": (
        {"environment.yml": "name: demo\nchannels: [conda-forge]\ndependencies:\n  - python=3.11\n  - pip\n"
                            "  - tabulate=0.9\n  - graphviz\n  - pip:\n    - six==1.16.0\n"},
        "no PyPI package for the conda packages graphviz; not installed", {"six": "1.16.0", "tabulate": "0.9.0"}),
    "pipfile_lock_pins_exactly": (
        {"Pipfile": '[packages]\ntabulate = "*"\nsix = "*"\n',
         "Pipfile.lock": json.dumps({"_meta": {}, "develop": {}, "default": {
             "tabulate": {"version": "==0.8.10"}, "six": {"version": "==1.15.0", "markers": "python_version >= '2.7'"}}})},
        "tabulate==0.8.10  (Pipfile.lock)", {"six": "1.15.0", "tabulate": "0.8.10"}),
}


@pytest.mark.parametrize("layout", list(REPOSITORY_FILES))
def test_repository_files_decide_what_is_installed(tmp_path, layout):
    files, log_line, versions = REPOSITORY_FILES[layout]
    write_notebook(tmp_path / "src", "import tabulate, six", VERSIONS)
    for name, text in files.items():
        (tmp_path / "src" / name).write_text(text)
    assert log_line in build_ok(tmp_path / "src", tmp_path / "out")
    assert predict(tmp_path / "out", list(versions)) == versions


def test_old_pins_build_relaxed_when_asked(tmp_path):
    # as notebooks of 2018-2021 pin: exactly in the notebook, a compatible series (~=) beside it, a
    # pin that still installs, and a package with no version at all
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "requirements.txt").write_text("scikit-learn~=0.19.2\ntabulate==0.8.10\nsix\n")
    write_notebook(tmp_path / "src", 'requirements = [["numpy", "1.15"]]',
                   "import numpy as np\nfrom sklearn.cluster import KMeans",
                   "kmeans = KMeans(n_clusters=2, n_init=10, random_state=0).fit(np.array([[0, 0], [0, 1], [9, 9], [9, 8]]))",
                   "def predictor(sample):\n    return int(kmeans.predict(np.array([sample]))[0] == kmeans.predict([[9, 9]])[0])")
    log = build_ok(tmp_path / "src", tmp_path / "out", NBS2I_RELAX_PINS="1")
    # the nearest releases with wheels for Python 3.11, not the newest
    assert ("NBS2I_RELAX_PINS: numpy==1.15 (model.ipynb cell 1) installed as numpy==1.23.2, the nearest release "
            "that installs on the build's Python") in log
    assert "NBS2I_RELAX_PINS: these pins install as they are and stay: tabulate==0.8.10" in log
    meta = json.loads((tmp_path / "out" / "model" / "metadata.json").read_text())
    relaxed = {r["name"]: r for r in meta["relaxed_pins"]}
    assert relaxed["scikit-learn"]["pinned"] == "~=0.19.2" and relaxed["scikit-learn"]["installed_as"] == "==1.1.3"
    assert relaxed["numpy"]["installed"] == "1.23.2" and "numpy==1.23.2" in meta["packages"]
    # the rest as of the day after scikit-learn 1.1.3, the newest of them, came out: six 1.16, IPython 8.6
    assert meta["unpinned_as_of"] == "2022-10-27"
    assert "six==1.16.0" in meta["build_packages"] and "tabulate==0.8.10" in meta["build_packages"]
    ipython = next(p for p in meta["build_packages"] if p.startswith("ipython=="))
    assert ipython.startswith("ipython==8.") and int(ipython.split(".")[1]) <= 6, ipython
    with Service(tmp_path / "out", workers=1) as svc:
        assert request(svc.url + "/predict", [8, 9])[2]["prediction"] == 1


def test_notebook_without_requirements_gets_them_from_its_imports(tmp_path):
    write_notebook(tmp_path / "src", "import numpy as np\nfrom sklearn.linear_model import LinearRegression",
                   "model = LinearRegression().fit(np.array([[0], [1], [2]]), np.array([1, 3, 5]))",
                   "def predictor(sample):\n    return float(model.predict([[sample]])[0])")
    log = build_ok(tmp_path / "src", tmp_path / "out")
    assert "declares no requirements; inferred from its imports: numpy, scikit-learn" in log
    meta = json.loads((tmp_path / "out" / "model" / "metadata.json").read_text())
    assert meta["inferred_requirements"] == ["numpy", "scikit-learn"]
    with Service(tmp_path / "out", workers=1) as svc:
        assert round(request(svc.url + "/predict", 3)[2]["prediction"], 6) == 7.0


def test_a_repository_wide_requirements_file_can_be_left_out(tmp_path):
    # A book's repository: one requirements.txt for every chapter (one of its packages no longer
    # installs), the same environment again as environment.yml for conda users, and a chapter
    # notebook that declares the one package it needs.
    src = tmp_path / "src"
    write_notebook(src, 'requirements = ["tabulate==0.9.0"]', VERSIONS)
    (src / "requirements.txt").write_text("six==1.16.0\nnbs2i-no-such-package-xyz~=1.0\n")
    (src / "environment.yml").write_text("dependencies:\n  - six=1.15\n  - pip:\n    - tabulate==0.8.10\n")
    failed = nbs2i("build", str(src), "--out", str(tmp_path / "failed"), env=build_env())
    assert failed.returncode == 1
    assert "environment.yml not read: requirements.txt beside it describes the same environment for pip" in failed.stderr
    assert ("nbs2i-no-such-package-xyz~=1.0: asked for only by the repository's requirements.txt, which may list "
            "what every notebook of the repository needs.") in failed.stderr
    assert "set NBS2I_REPOSITORY_REQUIREMENTS=0 (--notebook-requirements-only)" in failed.stderr
    # what the notebook itself asks for failing: leaving the repository's files out would not help
    ours = tmp_path / "ours"
    write_notebook(ours, 'requirements = ["nbs2i-no-such-package-abc"]', VERSIONS)
    (ours / "requirements.txt").write_text("six==1.16.0\n")
    failed = nbs2i("build", str(ours), "--out", str(tmp_path / "failed-ours"), env=build_env())
    assert failed.returncode == 1 and "nbs2i-no-such-package-abc" in failed.stderr
    assert "NBS2I_REPOSITORY_REQUIREMENTS" not in failed.stderr
    log = build_ok(src, tmp_path / "out", "--notebook-requirements-only")
    assert "requirements.txt, environment.yml in" in log and "not read; the notebook's own requirements only" in log
    assert predict(tmp_path / "out", ["tabulate"]) == {"tabulate": "0.9.0"}
    meta = json.loads((tmp_path / "out" / "model" / "metadata.json").read_text())
    assert not any(p.startswith("six==") for p in meta["packages"])
