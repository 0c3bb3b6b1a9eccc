"""Notebooks as they ran when they were written, modeled on public ones that failed only because
they meet today's packages: each is a git checkout whose commit is dated as the notebook's, and
builds as a Jupyter of its time had it (builder/era.py, nearest.py, projectfiles.py)."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from test.helpers import build_env, nbs2i, predict, write_notebook

pytestmark = pytest.mark.slow


def _committed(folder: Path, day: str) -> None:
    """folder as a git checkout whose one commit is of `day`, as a repository of then would be."""
    stamp = f"{day}T12:00:00+00:00"
    env = {**os.environ, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp, "GIT_AUTHOR_NAME": "a",
           "GIT_AUTHOR_EMAIL": "a@example.com", "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@example.com"}
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "the notebook"]):
        subprocess.run(["git", "-C", str(folder), *command], check=True, env=env, capture_output=True)


def _build(src: Path, out: Path, **env: str) -> subprocess.CompletedProcess:
    return nbs2i("build", str(src), "--out", str(out), env=build_env(**env))


def _meta(out: Path) -> dict:
    return json.loads((out / "model" / "metadata.json").read_text())


def _version(meta: dict, name: str, where: str = "build_packages") -> str:
    return next(p.split("==")[1] for p in meta[where] if p.lower().startswith(name + "=="))


# A 2022 notebook beside an unpinned requirements.txt: DataFrame.append, which pandas 2.0 removed.
APPEND = ["import pandas as pd",
          "frame = pd.DataFrame({'a': [1.0]}).append({'a': 2.0}, ignore_index=True)",
          "def predictor(sample):\n    return float(frame['a'].sum() + sample)", "example = 1.0"]


def test_an_unpinned_requirements_txt_whose_newest_pandas_breaks_a_call(tmp_path):
    src = tmp_path / "src"
    write_notebook(src, *APPEND)
    (src / "requirements.txt").write_text("pandas\n")
    _committed(src, "2022-12-01")
    result = _build(src, tmp_path / "out")
    assert result.returncode == 0, result.stderr[-3000:]
    line = re.search(r"---> Cell 2 failed in pandas (\S+) \(a name its installed release does not have\), a release "
                     r"after the notebook's last commit on 2022-12-01: building again as of then \(2022-12-02\), as a "
                     r"Jupyter of the notebook's time had it", result.stderr)
    assert line and int(line.group(1).split(".")[0]) >= 2, result.stderr[-3000:]
    meta = _meta(tmp_path / "out")
    assert meta["resolved_as_of"] == "2022-12-02" and "cell 2 failed in pandas" in meta["resolved_as_of_why"]
    assert _version(meta, "pandas").startswith("1.5.") and _version(meta, "pandas", "packages").startswith("1.5.")
    assert predict(tmp_path / "out", 1.0) == 4.0
    today = _build(src, tmp_path / "today", NBS2I_AS_OF="today")  # never look back: the failure, and the way out
    assert today.returncode == 1
    assert ("model.ipynb was last committed on 2022-12-01: NBS2I_AS_OF=notebook builds it with the packages of "
            "then.") in today.stderr


def test_lower_bounds_whose_newest_scikit_learn_lacks_an_api(tmp_path):
    src = tmp_path / "src"
    write_notebook(src, "requirements = ['scikit-learn>=0.22']",
                   "from sklearn.feature_extraction.text import CountVectorizer",
                   "vectorizer = CountVectorizer().fit(['red apple', 'green pear'])\n"
                   "vocabulary = list(vectorizer.get_feature_names())",
                   "def predictor(sample):\n    return vocabulary.index(sample)", "example = 'pear'")
    _committed(src, "2022-11-30")
    result = _build(src, tmp_path / "out")
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(r"---> Cell 3 failed in scikit-learn \S+ \(a name its installed release does not have\)",
                     result.stderr)
    meta = _meta(tmp_path / "out")
    assert _version(meta, "scikit-learn") == "1.1.3" and _version(meta, "numpy").startswith("1.")
    assert predict(tmp_path / "out", "pear") == 2  # apple, green, pear, red
    # the same notebook with the era asked for: one build, as of its commit, no failure first
    asked = _build(src, tmp_path / "asked", NBS2I_AS_OF="notebook")
    assert asked.returncode == 0 and "failed in" not in asked.stderr
    assert _meta(tmp_path / "asked")["resolved_as_of_why"] == "NBS2I_AS_OF=notebook: model.ipynb was last committed " \
                                                             "on 2022-11-30"


def test_an_environment_yml_with_spaced_conda_specs(tmp_path):
    src = tmp_path / "src"
    write_notebook(src, "import six, packaging, attrs", "def predictor(sample):\n    return six.__version__",
                   "example = 1")
    (src / "environment.yml").write_text("name: demo\nchannels: [conda-forge]\ndependencies:\n  - python =3.11\n"
                                         "  - six >= 1.10, < 2\n  - packaging 23.*\n  - conda-forge::attrs =23.1\n"
                                         "  - pip\n  - pip:\n    - tabulate==0.9.0\n")
    result = _build(src, tmp_path / "out")
    assert result.returncode == 0, result.stderr[-3000:]
    for line in ("six<2,>=1.10  (environment.yml)", "packaging==23.*  (environment.yml)",
                 "attrs==23.1.*  (environment.yml)", "tabulate==0.9.0  (environment.yml (pip))"):
        assert line in result.stderr, line
    (src / "environment.yml").write_text("dependencies:\n  - six >>= 1.10\n")
    write_notebook(src, "requirements = ['six']", "def predictor(sample):\n    return sample")
    broken = _build(src, tmp_path / "broken")
    assert broken.returncode == 1
    assert "environment.yml: 'six>>=1.10' is not a valid requirement" in broken.stderr
    assert "A conda dependency of environment.yml is a match spec: name, name 1.19.*" in broken.stderr
    assert "set NBS2I_REPOSITORY_REQUIREMENTS=0 (--notebook-requirements-only)" in broken.stderr


def test_a_pin_without_any_wheel_does_not_drag_the_era_to_the_present(tmp_path):
    # thrift 0.11.0 (2018) was published as source only; its first wheel came in 2025. The era is
    # pandas 1.5.3's, so numpy is one pandas 1.5 was built for, not NumPy 2.
    src = tmp_path / "src"
    write_notebook(src, "requirements = ['thrift==0.11.0', 'pandas==1.5.3']", "import thrift\nimport pandas as pd",
                   "frame = pd.DataFrame({'a': [1, 2]})",
                   "def predictor(sample):\n    return int(frame['a'].sum()) + sample", "example = 1")
    result = _build(src, tmp_path / "out", NBS2I_RELAX_PINS="1")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "these pins install as they are and stay: thrift==0.11.0, pandas==1.5.3" in result.stderr
    meta = _meta(tmp_path / "out")
    assert meta["unpinned_as_of"] == "2023-01-20" and _version(meta, "numpy").startswith("1.")
    assert _version(meta, "thrift") == "0.11.0"


def test_a_library_of_2022_that_imports_pkg_resources(tmp_path):
    src = tmp_path / "src"
    write_notebook(src, "requirements = ['fs==2.4.16']", "import fs",
                   "def predictor(sample):\n    return fs.__version__", "example = 1")
    result = _build(src, tmp_path / "out", NBS2I_RELAX_PINS="1")
    assert result.returncode == 0, result.stderr[-3000:]
    # 2022-05 predates Python 3.11's wheels (pyzmq would compile): the rest comes newest, the seeds from the era
    assert "the newest of those releases came out before 2022-05-03; the rest of the build environment " \
           "(unpinned packages, what they depend on, IPython) is taken as of then too" in result.stderr
    assert "trying lower bounds (>=) with the rest newest" in result.stderr
    meta = _meta(tmp_path / "out")
    assert int(_version(meta, "setuptools").split(".")[0]) < 82  # the era's setuptools, which has pkg_resources
    # today's setuptools has no pkg_resources: the hint names it, not "no requirement provides"
    write_notebook(src, "import pkg_resources", "def predictor(sample):\n    return sample")
    failed = _build(src, tmp_path / "failed", NBS2I_AS_OF="today")
    assert failed.returncode == 1
    assert "'pkg_resources' came with setuptools until setuptools 82 removed it" in failed.stderr


def test_a_pin_that_installs_but_no_longer_imports_moves_to_the_nearest_that_does(tmp_path):
    src = tmp_path / "src"
    write_notebook(src, "requirements = ['boto3==1.9.253', 'pandas==1.5.3']", "import boto3",
                   "def predictor(sample):\n    return boto3.__version__", "example = 1")
    result = _build(src, tmp_path / "out", NBS2I_RELAX_PINS="1")
    assert result.returncode == 0, result.stderr[-3000:]
    moved = re.search(r"NBS2I_RELAX_PINS: boto3==1\.9\.253 installs but does not import on the build's Python "
                      r"\(ImportError: cannot import name 'Mapping' from 'collections'[^;]*; installed the nearest "
                      r"release that imports, boto3==(\S+)", result.stderr)
    assert moved, result.stderr[-3000:]
    assert predict(tmp_path / "out", 1) == moved.group(1)


def _python(minor: str) -> str:
    found = sorted(Path("/root/.pyenv/versions").glob(f"{minor}.*/bin/python{minor}")) or \
        [Path(p) for p in [os.popen(f"command -v python{minor}").read().strip()] if p]
    assert found, f"this machine's pyenv has Python {minor} (/root/.pyenv/versions)"
    return str(found[-1])


def test_the_builds_python_decides_the_syntax(tmp_path):
    # a Python 3.12 f-string (the same quotes inside); the notebook last ran on 3.12
    src = tmp_path / "src"
    write_notebook(src, "x = {'a': 1}", 'def predictor(sample):\n    return f"{x["a"]}{sample}"', "example = 2",
                   python="3.12.1")
    refused = _build(src, tmp_path / "refused")
    assert refused.returncode == 1
    assert ("Python 3.11.7 read it (the build's Python); the notebook last ran on Python 3.12.1 (its metadata says "
            "so), whose syntax may differ: build with that Python (NBS2I_PYTHON=python3.12)") in refused.stderr
    result = _build(src, tmp_path / "out", NBS2I_PYTHON=_python("3.13"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert _meta(tmp_path / "out")["python_version"].startswith("3.13.")
