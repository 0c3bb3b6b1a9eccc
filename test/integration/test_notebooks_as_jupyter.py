"""Notebooks written the way real ones are run as Jupyter runs them (IPython in the build
environment, in the notebook's folder). One behaviour per fixture, each named for it;
each is built for real with `nbs2i build`, served by a real gunicorn and asked for an answer.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from test.helpers import NOTEBOOK_TOOLING, build_ok, predict, served_distributions, write_notebook

pytestmark = pytest.mark.slow




def outputs_of(out: Path) -> list[list[dict]]:
    nb = nbformat.read(str(out / "model" / "executed.ipynb"), as_version=4)
    return [c.outputs for c in nb.cells if c.cell_type == "code"]


def test_module_beside_the_notebook_travels_with_the_model(tmp_path):
    src = tmp_path / "src"
    write_notebook(src, "from preamble import *\nfrom features import clean",
                   "def predictor(sample):\n    return clean(sample) * SCALE")
    (src / "features.py").write_text("import helpers\n\ndef clean(values):\n    return helpers.total(values)\n")
    (src / "helpers.py").write_text("def total(values):\n    return sum(abs(v) for v in values)\n")
    (src / "preamble.py").write_text("SCALE = 10\n")
    build_ok(src, tmp_path / "out")
    shutil.rmtree(src)  # the service never needs the source tree
    assert predict(tmp_path / "out", [1, -2]) == 30


def test_indented_cell_runs_dedented(tmp_path):
    write_notebook(tmp_path / "src", "    answer = 42\n    offset = answer - 40",
                   "def predictor(sample):\n    return sample + offset")
    build_ok(tmp_path / "src", tmp_path / "out")
    assert predict(tmp_path / "out", 1) == 3


MAGIC_LOOKING = "Summary\n%d rows\n!important\n%%timeit -n 1 is text\n  !ls too\n"


def test_magic_looking_lines_in_strings_are_kept(tmp_path):
    write_notebook(tmp_path / "src", f'template = """{MAGIC_LOOKING}"""',
                   "minutes = 125\nremainder = (minutes\n   % 60)\nflag = (True\n  !=False)",
                   "def predictor(sample):\n    return [template, template % sample, remainder, flag]")
    build_ok(tmp_path / "src", tmp_path / "out")
    kept, filled, remainder, flag = predict(tmp_path / "out", 7)
    assert kept == MAGIC_LOOKING  # byte for byte
    assert filled == "Summary\n7 rows\n!important\n%timeit -n 1 is text\n  !ls too\n"
    assert (remainder, flag) == (5, True)


def test_ipython_api_display_and_help_lines(tmp_path):
    write_notebook(
        tmp_path / "src",
        "import IPython\nversion = IPython.__version__\n"
        "from IPython.display import display, Markdown, HTML, set_matplotlib_formats",
        "display(Markdown('**trained**'))\nprint('to stderr', file=__import__('sys').stderr)\nversion",
        "len?",
        "%load_ext autoreload\n%autoreload 2",
        "def predictor(sample):\n    return {'major': major, 'sample': sample}\nmajor = int(version.split('.')[0])")
    build_ok(tmp_path / "src", tmp_path / "out")
    assert predict(tmp_path / "out", "x")["major"] >= 8
    cells = outputs_of(tmp_path / "out")
    kinds = [(o.output_type, o.get("name")) for o in cells[1]]
    assert kinds == [("display_data", None), ("stream", "stderr"), ("execute_result", None)]
    assert cells[1][0].data["text/markdown"] == "**trained**"
    assert cells[1][2].data["text/plain"].startswith("'8.") and cells[1][2].execution_count == 2
    assert "Return the number of items" in "".join(o.get("text", "") for o in cells[2])  # len? printed help


def test_matplotlib_magics_draw_inline(tmp_path):
    write_notebook(tmp_path / "src", 'requirements = ["matplotlib"]',
                   "%matplotlib notebook\n%config InlineBackend.figure_format = 'retina'\nimport matplotlib.pyplot as plt",
                   "plt.plot([1, 2, 3])\nplt.show()\nprint('after show')", "plt.figure()\nplt.bar([1], [2]);",
                   "def predictor(sample):\n    return sample")
    build_ok(tmp_path / "src", tmp_path / "out")
    cells = outputs_of(tmp_path / "out")
    assert [o.output_type for o in cells[2]] == ["display_data", "stream"]  # show() displays, as inline does
    assert [o.output_type for o in cells[3]] == ["display_data"]           # open figures shown at cell end
    assert all(o.metadata["image/png"]["width"] for o in (cells[2][0], cells[3][0]))  # retina: sized PNGs
    assert predict(tmp_path / "out", 4) == 4
    assert "matplotlib" not in served_distributions(tmp_path / "out")  # the plots stay in the build


def test_top_level_await(tmp_path):
    write_notebook(tmp_path / "src", "import asyncio\n\nasync def fetch_scale():\n    await asyncio.sleep(0.01)\n"
                   "    return 3", "scale = await fetch_scale()", "def predictor(sample):\n    return sample * scale")
    build_ok(tmp_path / "src", tmp_path / "out")
    assert predict(tmp_path / "out", 2) == 6


def test_notebook_in_a_subfolder_runs_in_its_folder(tmp_path):
    repo = tmp_path / "repo"
    write_notebook(repo / "sub", "import csv\nimport tabulate\n"
                   "rows = list(csv.reader(open('data/prices.csv')))\nprices = {k: float(v) for k, v in rows}",
                   "def predictor(sample):\n    return prices[sample]", name="train.ipynb")
    (repo / "sub" / "data").mkdir()
    (repo / "sub" / "data" / "prices.csv").write_text("apple,1.5\npear,2.25\n")
    (repo / "requirements.txt").write_text("tabulate\n")  # at SOURCE's root: read when none is beside it
    log = build_ok(repo, tmp_path / "out", "--notebook", "sub/train.ipynb")
    assert f"with IPython in {repo / 'sub'}" in log
    assert predict(tmp_path / "out", "pear") == 2.25


def test_shell_escape_expands_python_values(tmp_path):
    write_notebook(tmp_path / "src", "from pathlib import Path\nIMAGES_PATH = Path('images')\ncount = 3",
                   "!mkdir -p {IMAGES_PATH} && echo $count {IMAGES_PATH / 'tree.dot'} > {IMAGES_PATH}/out.txt",
                   "files = !ls {IMAGES_PATH}\nwritten = open('images/out.txt').read().strip()",
                   "def predictor(sample):\n    return [written, list(files)]")
    build_ok(tmp_path / "src", tmp_path / "out")
    assert predict(tmp_path / "out", 0) == ["3 images/tree.dot", ["out.txt"]]


def test_shell_commands_run_in_the_build_environment(tmp_path):
    write_notebook(tmp_path / "src", "import sys\nkernel_prefix = sys.prefix",
                   "shell_prefix = !python -c 'import sys, IPython; print(sys.prefix)'",
                   "pips = !pip --version",
                   "same_env = shell_prefix[0] == kernel_prefix and kernel_prefix in pips[0]",
                   # %%bash is bash (arrays and [[ ]] are not sh), with the same PATH
                   "%%bash\nnames=(a b)\n[[ ${#names[@]} == 2 ]] && echo \"bash ${names[1]} $(command -v python)\" > bash.txt",
                   "bash_says = open('bash.txt').read().split()",
                   "def predictor(sample):\n    return [same_env, 'nbs2i-build-env' in kernel_prefix, bash_says[:2],\n"
                   "            bash_says[2].startswith(kernel_prefix)]")
    build_ok(tmp_path / "src", tmp_path / "out")
    assert predict(tmp_path / "out", 0) == [True, True, ["bash", "b"], True]


def test_failed_shell_command_is_a_warning(tmp_path):
    write_notebook(tmp_path / "src", "!exit 3\nafter = _exit_code", "def predictor(sample):\n    return after")
    log = build_ok(tmp_path / "src", tmp_path / "out")
    assert "warning: cell 1: `exit 3` exited with status 3; Jupyter goes on" in log
    assert predict(tmp_path / "out", 0) == 3


def test_pip_lines_are_requirements_not_commands(tmp_path):
    write_notebook(tmp_path / "src", "%%capture\n!pip install -q tabulate",
                   "import sys\n!{sys.executable} -m pip install --upgrade six\n%pip install nbformat",
                   "import tabulate, six", "def predictor(sample):\n    return tabulate.tabulate([[sample]])")
    log = build_ok(tmp_path / "src", tmp_path / "out")
    assert "tabulate  (model.ipynb cell 1 (pip install))\n     six  (model.ipynb cell 2 (pip install))\n     " \
           "nbformat  (model.ipynb cell 2 (pip install))" in log
    assert "-m pip install --upgrade six` not run: the build installed the notebook's requirements" in log
    served = served_distributions(tmp_path / "out")
    assert "tabulate" in served and not served & NOTEBOOK_TOOLING
    assert predict(tmp_path / "out", 5) == "-\n5\n-"
    metadata = json.loads((tmp_path / "out" / "model" / "metadata.json").read_text())
    assert any(p.startswith("nbformat==") for p in metadata["build_packages"])


def test_threads_the_notebook_leaves_running_do_not_hold_the_build(tmp_path):
    write_notebook(tmp_path / "src", "import threading, time\nthreading.Thread(target=time.sleep, args=(600,)).start()",
                   "def predictor(sample):\n    return sample")
    build_ok(tmp_path / "src", tmp_path / "out", "--timeout", "120")
    assert predict(tmp_path / "out", 1) == 1


def test_a_training_loop_with_a_notebook_progress_bar(tmp_path):
    # tqdm's notebook bar needs ipywidgets, which every Jupyter install has; the notebook names only tqdm
    write_notebook(tmp_path / "src", 'requirements = ["tqdm"]',
                   "from tqdm.notebook import tqdm\nloss = 10.0\nfor epoch in tqdm(range(5), desc='epochs'):\n"
                   "    loss = loss / 2", "def predictor(sample):\n    return loss * sample")
    build_ok(tmp_path / "src", tmp_path / "out")
    bar = outputs_of(tmp_path / "out")[1][0]
    assert bar["output_type"] == "display_data" and "application/vnd.jupyter.widget-view+json" in bar["data"]
    assert predict(tmp_path / "out", 32) == 10.0
    assert not served_distributions(tmp_path / "out") & {"ipywidgets", "widgetsnbextension"}
