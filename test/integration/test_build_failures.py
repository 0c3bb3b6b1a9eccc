"""Failure notebooks, one behaviour each: the build fails with a message that says why.

Each builds for real (venv, install, run) with `nbs2i build`.
"""
from __future__ import annotations

import re
import time

import pytest

from test.helpers import build_env, nbs2i, write_notebook

pytestmark = pytest.mark.slow

FAILURES = {
    "no_predictor": (["x = 1"], ["ERROR: model.ipynb defines no 'predictor'. Define predictor(sample) at top level"]),
    "predictor_not_callable": (["predictor = 3"], ["'predictor' is a int, not a function"]),
    "cell_raises": (
        ["# md: intro", "import math", "def helper(v):\n    return 1 / v", "weights = [1, 2]\nscale = helper(0)\nprint(scale)",
         "def predictor(s):\n    return s"],
        ["cell 4 raised ZeroDivisionError: division by zero", "weights = [1, 2]", "File <cell 3>:2 in helper",
         "File <cell 4>:2\n", "scale = helper(0)", "Fix the cell"]),
    "syntax_error": (["x = 1", "def predictor(s)\n    return s"],
                     ["cell 2 has a syntax error at line 1", "def predictor(s)"]),
    "failed_download_before_the_error": (
        ["!exit 7", "data = open('data.csv').read()", "def predictor(s):\n    return s"],
        ["cell 2 raised FileNotFoundError", "Earlier, cell 1: `exit 7` exited with status 7"]),
    "pins_that_cannot_both_hold": (['requirements = ["six==1.16.0"]', "!pip install six==1.15.0",
                                    "def predictor(s):\n    return s"],
                                   ["six is required as 'six==1.16.0' (model.ipynb cell 1) and as 'six==1.15.0' "
                                    "(model.ipynb cell 2 (pip install)); no version satisfies both"]),
    # an import no statement shows (the build adds the packages of the well-known ones it sees)
    "undeclared_import": (['requirements = ["six"]', 'yaml = __import__("yaml")', "def predictor(s):\n    return s"],
                          ["cell 2 raised ModuleNotFoundError: No module named 'yaml'",
                           "'yaml' is provided by the package pyyaml: add 'pyyaml' to the notebook's requirements"]),
    "pinned_before_the_python": (
        ['requirements = [["numpy", "1.15"], ["scikit-learn", "0.19.2"]]', "def predictor(s):\n    return s"],
        ["Failed to build `scikit-learn==0.19.2`", "scikit-learn==0.19.2 (model.ipynb cell 1): pinned, and on "
         "Python 3.", "the installer could not install that: versions older than the Python often have no wheel",
         "set NBS2I_RELAX_PINS=1 (--relax-pins)"]),
    "pin_that_cannot_meet_ipython": (
        ['requirements = ["traitlets==4.3.3"]', "def predictor(s):\n    return s"],
        ["ipython>=8,<9 is nbs2i's own requirement (what runs the notebook or serves the model), and the versions the "
         "notebook's requirements lead to cannot meet it.", "traitlets==4.3.3 (model.ipynb cell 1): pinned, and on "
         "Python 3.", "no set of versions meets every pin beside what else is asked for"]),
    "cells_ran_out_of_order_in_jupyter": (
        ['requirements = ["numpy"]', "zeros = np.zeros(2)", "import numpy as np", "def predictor(s):\n    return s"],
        ["cell 2 raised NameError: name 'np' is not defined", "'np' is bound only further down, in cell 3 "
         "(`import numpy as np`): in Jupyter the cells ran out of order. Move that line above cell 2."]),
    "usual_import_never_written": (
        ["requirements = []", "frame = pd.DataFrame()", "def predictor(s):\n    return s"],
        ["cell 2 raised NameError: name 'pd' is not defined", "No cell binds 'pd', the usual name of "
         "`import pandas as pd`"]),
    "unknown_cell_magic": (["x = 1", "%%sql\nSELECT 1", "def predictor(s):\n    return s"],
                           ["cell 2 raised UsageError: Cell magic `%%sql` not found."]),
    "unknown_line_magic": (["%not_a_magic 3", "def predictor(s):\n    return s"],
                           ["cell 1 raised UsageError: Line magic function `%not_a_magic` not found."]),
    "artifact_needs_ipython": (
        ["from IPython.display import display", "def predictor(s):\n    display(s)\n    return s", "example = 1"],
        ["failed its smoke test in a fresh process of the served environment", "No module named 'IPython'",
         "The model needs the module 'IPython'", "keep it out of predictor/validator"]),
    "unpicklable_predictor": (
        ["import threading\nlock = threading.Lock()", "def predictor(s):\n    with lock:\n        return s"],
        ["'predictor' cannot be serialized with cloudpickle", "lock", "Create that resource inside the function"]),
    "unsatisfiable_requirement": (
        ['requirements = [["nbs2i-no-such-package-xyz", "9.9.9"]]', "def predictor(s):\n    return s"],
        ["failed installing the requirements nbs2i-no-such-package-xyz==9.9.9", "nbs2i-no-such-package-xyz",
         "model.ipynb cell 1"]),
    "predictor_reads_a_file_beside_the_notebook": (
        ["import pickle\nwith open('model.pkl', 'wb') as f:\n    pickle.dump({'scale': 3}, f)",
         "def predictor(s):\n    with open('model.pkl', 'rb') as f:\n        return s * pickle.load(f)['scale']",
         "example = 2"],
        ["predictor(example) raised", "No such file or directory: 'model.pkl'", "predictor opens 'model.pkl' by a "
         "path relative to the notebook's folder, where the cells ran", "Load it in a cell at top level"]),
    "module_a_later_release_removed": (
        # as `from sklearn.cross_validation import train_test_split` (gone in scikit-learn 0.20) fails today
        ['requirements = ["packaging==24.1"]', "from packaging.nbs2i_gone import split", "def predictor(s):\n    return s"],
        ["cell 2 raised ModuleNotFoundError: No module named 'packaging.nbs2i_gone'", "packaging 24.1 is installed and "
         "provides 'packaging', but not 'packaging.nbs2i_gone': a release after the one the notebook was written for "
         "removed or moved it. Change the import to today's name"]),
    "compiled_for_numpy_1": (  # a 2023 pin that installs today, beside the numpy 2 nothing kept it from
        ['requirements = ["matplotlib==3.6.3"]', "import matplotlib.pyplot as plt", "def predictor(s):\n    return s"],
        ["cell 2 raised ImportError", "A package the cell imports was compiled for NumPy 1.x, and numpy resolved to 2 "
         "because no requirement bounds it", 'Add "numpy<2" to the requirements, or build with NBS2I_RELAX_PINS=1']),
    "written_on_kaggle": (
        ["train = open('/kaggle/input/titanic/train.csv').read()", "def predictor(s):\n    return s"],
        ["cell 1 raised FileNotFoundError", "'/kaggle/input/titanic/train.csv' is a path of Kaggle, which mounts a "
         "competition's and a dataset's files at /kaggle/input", "Put the file in the repository"]),
    "written_in_colab": (
        ["from google.colab import drive\ndrive.mount('/content/drive')", "def predictor(s):\n    return s"],
        ["cell 1 raised ModuleNotFoundError: No module named 'google'", "`google.colab` exists only inside Google "
         "Colab", "`if 'google.colab' in sys.modules:`"]),
    "example_rejected": (["def predictor(s):\n    return s", "def validator(s):\n    return False", "example = [1]"],
                         ["failed its smoke test", "the notebook's own example was rejected"]),
    "example_not_json_answer": (["def predictor(s):\n    return {1, 2} if False else object()", "example = 1"],
                                ["predictor(example) returned a value that is not JSON"]),
    "predictor_fails_on_its_example": (["def predictor(s):\n    return s['x']", "example = [1]"],
                                       ["predictor(example) raised in the notebook's own run, after every cell",
                                        "TypeError: list indices must be integers or slices, not str"]),
    # under load the service answers with batch_predictor: it must answer as predictor does
    "batch_predictor_rounds": (
        ["def predictor(s):\n    return s['x'] / 3", "def batch_predictor(ss):\n    return [round(s['x'] / 3, 2) for s in ss]",
         "example = {'x': 1}"],
        ["batch_predictor and predictor answer differently, so the service's answers would depend on load",
         'sample 0 {"x":1} got 0.3333333333333333 from predictor and 0.33 from batch_predictor (they differ at $; '
         "numbers may differ by a relative 1e-06)"]),
    "batch_predictor_differs_on_training_rows": (  # the example agrees; rows of the training data do not
        ['requirements = ["numpy"]', "import numpy as np\nX = np.arange(400.0).reshape(200, 2)",
         "def predictor(s):\n    return {'score': s[0] + s[1]}",
         "def batch_predictor(ss):\n    return [{'score': (a + b) * (1.01 if a > 100 else 1)} for a, b in ss]",
         "example = [0.0, 1.0]"],
        ["Scored alone and together in the notebook's run (the example and 16 rows of 'X')",
         "got {\"score\":", "(they differ at $.score;"]),
    "batch_predictor_raises": (
        ["def predictor(s):\n    return s", "def batch_predictor(ss):\n    return ss.tolist()", "example = 1"],
        ["batch_predictor raised on 1 sample that predictor answers one by one",
         "AttributeError: 'list' object has no attribute 'tolist'"]),
    # the served environment holds no IPython: a predictor that looks for it answers otherwise there
    "served_answer_differs_from_the_notebooks": (
        ["import sys", "def predictor(s):\n    return {'in_jupyter': 'IPython' in sys.modules}", "example = 1"],
        ['the served environment answers the example with {"in_jupyter":false}, but the notebook\'s own run '
         'answered {"in_jupyter":true} (they differ at $.in_jupyter)', "most likely it uses a module or a setting "
         "that only the build environment has"]),
}


@pytest.mark.parametrize("name", list(FAILURES))
def test_failing_notebook(tmp_path, name):
    cells, expected = FAILURES[name]
    write_notebook(tmp_path / "src", *cells)
    result = nbs2i("build", str(tmp_path / "src"), "--out", str(tmp_path / "out"))
    assert result.returncode == 1, result.stderr
    error = result.stderr[result.stderr.index("ERROR: "):]
    for text in expected:
        assert text in error
    if "The notebook's traceback:" in error:  # the frames Jupyter would show: cells and libraries, never ours
        frames = re.findall(r"File (<cell \d+>|\S+):\d+", error.split("The notebook's traceback:")[-1])
        assert not [f for f in frames if "nbs2i-script-" in f or "/nbs2i/" in f or "runner" in f], frames
        if name == "cell_raises":
            assert frames[:2] == ["<cell 4>", "<cell 3>"], frames  # the failing cell, then the helper it called


def test_old_pins_name_the_python_the_notebook_last_ran_on(tmp_path):
    write_notebook(tmp_path / "src", 'requirements = [["scikit-learn", "0.19.2"]]', "def predictor(s):\n    return s",
                   python="3.6.8")
    result = nbs2i("build", str(tmp_path / "src"), "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert ("The notebook last ran on Python 3.6.8 (its metadata says so); its pins are of that time, which is what "
            "NBS2I_RELAX_PINS=1 is for.") in result.stderr


def test_timeout_stops_the_build_near_the_limit(tmp_path):
    write_notebook(tmp_path / "src", "import time", "time.sleep(120)", "def predictor(s):\n    return s")
    started = time.monotonic()
    result = nbs2i("build", str(tmp_path / "src"), "--out", str(tmp_path / "out"), "--timeout", "4")
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert "ran past its time limit of 4 s while running cell 2" in result.stderr
    assert "time.sleep(120)" in result.stderr and "--timeout or NBS2I_TIMEOUT" in result.stderr
    assert elapsed < 60  # venv + install + 4 s, nowhere near the sleep


def test_timeout_from_environment(tmp_path):
    write_notebook(tmp_path / "src", "import time\ntime.sleep(60)")
    result = nbs2i("build", str(tmp_path / "src"), "--out", str(tmp_path / "out"), env=build_env(NBS2I_TIMEOUT="2"))
    assert "time limit of 2 s while running cell 1" in result.stderr


def test_several_notebooks_without_a_choice(tmp_path):
    write_notebook(tmp_path, "x = 1", name="a.ipynb")
    write_notebook(tmp_path, "x = 1", name="b.ipynb")
    result = nbs2i("build", str(tmp_path), "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert result.stderr.startswith("ERROR: ") and "a.ipynb, b.ipynb" in result.stderr
