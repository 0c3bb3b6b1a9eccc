"""The served environment is derived from the artifact: only what the predictor uses, at the
versions the notebook ran with, verified in a fresh process; and OUT can be copied or moved.
Each builds for real and serves with a real gunicorn.
"""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from test.helpers import NBS2I, build_env, build_ok, predict, served_distributions, write_notebook

pytestmark = pytest.mark.slow

TRAIN = ('requirements = ["pandas", "matplotlib", "scikit-learn"]',
         "import pandas as pd\nimport matplotlib.pyplot as plt\nfrom sklearn.linear_model import LinearRegression",
         "frame = pd.DataFrame({'x': [0, 1, 2, 3], 'y': [1, 3, 5, 7]})\nframe.plot(x='x', y='y')\nplt.show()",
         "class Doubler:\n    def __init__(self, model):\n        self.model = model\n"
         "    def __call__(self, x):\n        return 2 * float(self.model.predict([[x]])[0])\n"
         "double = Doubler(LinearRegression().fit(frame[['x']].to_numpy(), frame['y'].to_numpy()))")




def test_training_packages_stay_in_the_build(tmp_path):
    write_notebook(tmp_path / "src", *TRAIN, "def predictor(sample):\n    return double(sample)\nexample = 1")
    log = build_ok(tmp_path / "src", tmp_path / "out")
    served = served_distributions(tmp_path / "out")
    assert {"scikit-learn", "numpy", "scipy", "flask"} <= served
    assert not served & {"pandas", "matplotlib", "ipython"}
    meta = json.loads((tmp_path / "out" / "model" / "metadata.json").read_text())
    left_out = {p.split("==")[0].lower() for p in meta["left_out_of_serving"]}
    assert {"pandas", "matplotlib", "ipython"} <= left_out
    assert "sklearn" in meta["served_because_of_modules"]
    assert "left out (serving does not use them):" in log and "Served environment:" in log
    assert predict(tmp_path / "out", 4) == 18.0


def test_an_import_inside_the_predictor_keeps_its_package(tmp_path):
    write_notebook(tmp_path / "src", *TRAIN,
                   "def predictor(sample):\n    import pandas\n    return int(pandas.Series(sample).sum())")
    build_ok(tmp_path / "src", tmp_path / "out")
    assert "pandas" in served_distributions(tmp_path / "out")
    assert predict(tmp_path / "out", [1, 2, 3]) == 6


def test_serve_requirements_keep_and_minimal_env_off(tmp_path):
    write_notebook(tmp_path / "src", *TRAIN, "def predictor(sample):\n    return double(sample)")
    build_ok(tmp_path / "src", tmp_path / "kept", NBS2I_SERVE_REQUIREMENTS="matplotlib")
    assert "matplotlib" in served_distributions(tmp_path / "kept") and "pandas" not in served_distributions(tmp_path / "kept")
    build_ok(tmp_path / "src", tmp_path / "whole", NBS2I_MINIMAL_ENV="0")
    assert {"pandas", "matplotlib"} <= served_distributions(tmp_path / "whole")


def test_a_copied_or_moved_out_serves_its_own_model(tmp_path):
    write_notebook(tmp_path / "src", "def predictor(sample):\n    return sample + 1")
    build_ok(tmp_path / "src", tmp_path / "out")
    shutil.copytree(tmp_path / "out", tmp_path / "copy", symlinks=True)
    (tmp_path / "out").rename(tmp_path / "moved")
    assert predict(tmp_path / "moved", 1) == 2
    assert predict(tmp_path / "copy", 1) == 2
    artifact = tmp_path / "copy" / "model" / "model.pkl"
    artifact.write_bytes(artifact.read_bytes() + b"tampered")  # only the copy's model changes
    result = subprocess.run([NBS2I, "serve", str(tmp_path / "copy"), "--port", "1"], capture_output=True, text=True,
                            env=build_env(), timeout=60)
    assert result.returncode == 3 and "sha256" in result.stdout + result.stderr
    assert predict(tmp_path / "moved", 1) == 2  # the original, moved, is untouched


def test_a_module_only_the_example_imports_is_added_by_the_smoke_test(tmp_path):
    write_notebook(tmp_path / "src", 'requirements = ["tabulate"]',
                   "import importlib\n\ndef predictor(sample):\n"
                   "    module = importlib.import_module(''.join(['tab', 'ulate']))  # no import, no name to see\n"
                   "    return [sample, module.__version__]\nexample = 5")
    log = build_ok(tmp_path / "src", tmp_path / "out")
    assert "Serving also needs tabulate==" in log and "the model imported 'tabulate'" in log
    meta = json.loads((tmp_path / "out" / "model" / "metadata.json").read_text())
    assert meta["added_by_smoke_test"][0].startswith("tabulate==")
    assert any(p.startswith("tabulate==") for p in meta["packages"])
    answer = predict(tmp_path / "out", 7)
    assert answer[0] == 7 and meta["added_by_smoke_test"][0] == f"tabulate=={answer[1]}"
