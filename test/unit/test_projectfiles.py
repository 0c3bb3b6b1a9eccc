"""Lock files, Pipfile, pyproject.toml and conda's environment.yml, read as their tools mean them."""
from __future__ import annotations

import json

import pytest

from nbs2i import projectfiles

ENVIRONMENT_YML = """name: ml
channels: [conda-forge, defaults]
dependencies:
  - python=3.11
  - pip
  - numpy=1.26
  - conda-forge::scikit-learn>=1.3
  - pytorch=2.1.0=py3.11_cpu_0
  - py-xgboost
  - python-graphviz
  - graphviz
  - cudatoolkit=11.8
  - pandas 2.1.*
  - pip:
      - tabulate==0.9.0
      - -e .
"""


def test_environment_yml_maps_conda_names_and_warns_on_the_rest(tmp_path, capsys):
    (tmp_path / "environment.yml").write_text(ENVIRONMENT_YML)
    project = projectfiles.read(tmp_path)
    assert [r.text for r in project.requirements] == [
        "numpy==1.26.*", "scikit-learn>=1.3", "torch==2.1.0", "xgboost", "graphviz", "pandas==2.1.*", "tabulate==0.9.0"]
    err = capsys.readouterr().err
    assert "no PyPI package for the conda packages graphviz, cudatoolkit=11.8; not installed" in err
    assert "the pip option '-e .' is not read" in err
    assert project.locked_by is None


def test_environment_yml_beside_requirements_txt_is_the_same_environment_for_conda(tmp_path, capsys):
    # as in a book's repository: requirements.txt for pip users, environment.yml for conda users,
    # their pins a minor version apart (Pillow~=8.4.0 and pillow=8.3)
    (tmp_path / "environment.yml").write_text("dependencies:\n  - pillow=8.3\n  - pip:\n    - tensorflow~=2.6.0\n")
    (tmp_path / "requirements.txt").write_text("Pillow~=8.4.0\n")
    project = projectfiles.read(tmp_path)
    assert (project.requirements, project.requirements_txt) == ([], tmp_path / "requirements.txt")
    assert ("environment.yml not read: requirements.txt beside it describes the same environment for pip"
            in capsys.readouterr().err)


def test_pipfile_lock_pins_every_version(tmp_path):
    lock = {"_meta": {}, "default": {
        "numpy": {"hashes": ["sha256:x"], "version": "==1.26.4", "markers": "python_version >= '3.9'"},
        "requests": {"version": "==2.32.3", "extras": ["socks"]},
        "mypkg": {"editable": True, "path": "."}},
        "develop": {"pytest": {"version": "==8.0.0"}}}
    (tmp_path / "Pipfile.lock").write_text(json.dumps(lock))
    (tmp_path / "Pipfile").write_text('[packages]\nnumpy = "*"\n')
    project = projectfiles.read(tmp_path)
    assert project.locked_by == "Pipfile.lock"
    assert [r.text for r in project.requirements] == ['numpy==1.26.4; python_version >= "3.9"',
                                                      "requests[socks]==2.32.3"]


def test_pylock_toml(tmp_path):
    (tmp_path / "pylock.toml").write_text('lock-version = "1.0"\n[[packages]]\nname = "six"\nversion = "1.16.0"\n'
                                         '[[packages]]\nname = "colorama"\nversion = "0.4.6"\nmarker = "sys_platform == \'win32\'"\n')
    assert [r.text for r in projectfiles.read(tmp_path).requirements] == [
        "six==1.16.0", 'colorama==0.4.6; sys_platform == "win32"']


def test_pipfile_and_pyproject_declare_without_a_lock(tmp_path):
    (tmp_path / "Pipfile").write_text('[packages]\nnumpy = "*"\npandas = "==2.2.3"\n'
                                      'requests = {version = ">=2", extras = ["socks"]}\n')
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "0"\ndependencies = ["tabulate>=0.9"]\n')
    assert [r.text for r in projectfiles.read(tmp_path).requirements] == [
        "numpy", "pandas==2.2.3", "requests[socks]>=2", "tabulate>=0.9"]


@pytest.mark.parametrize("spec, pypi", [
    ("numpy", "numpy"), ("numpy=1.19", "numpy==1.19.*"), ("numpy=1.19.2=py38h1234", "numpy==1.19.2"),
    ("numpy==1.19.2", "numpy==1.19.2"), ("numpy 1.19.*", "numpy==1.19.*"), ("defaults::pytorch-cpu", "torch"),
    ("python>=3.8", None), ("libgcc-ng", None), ("r-base", None), ("mkl", None),
])
def test_conda_specs(spec, pypi):
    assert projectfiles.conda_to_pypi(spec) == pypi


def test_an_environment_yml_exported_in_powershell(tmp_path):
    # `conda env export > environment.yml` in Windows PowerShell: UTF-16 with a byte-order mark
    (tmp_path / "environment.yml").write_bytes("name: demo\ndependencies:\n  - tabulate=0.9\n".encode("utf-16"))
    assert [r.text for r in projectfiles.read(tmp_path).requirements] == ["tabulate==0.9.*"]
