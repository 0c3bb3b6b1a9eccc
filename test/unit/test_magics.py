"""IPython syntax -> Python: magics translated, pip lines collected, shell escapes kept."""
from __future__ import annotations

import pytest

from nbs2i import magics
from nbs2i.errors import NotebookError


@pytest.mark.parametrize("line, expected", [
    ("%matplotlib inline", "pass  # nbs2i: %matplotlib dropped"),
    ("%time x = fit()", "x = fit()"),
    ("%timeit -n 10 -r 2 f(3)", "f(3)"),
    ("!ls -l data", "_nbs2i_shell('ls -l data', capture=False)"),
    ("files = !ls", "files = _nbs2i_shell('ls', capture=True)"),
    ("%env SEED=3", "_nbs2i_env('SEED=3')"),
    ("model?", "pass  # nbs2i: help request dropped"),
    ("x = a != b", "x = a != b"),
    ("print('why?')", "print('why?')"),
])
def test_line_translation(line, expected):
    assert magics.translate(line, 1).source == expected


def test_indentation_is_kept():
    assert magics.translate("if True:\n    !echo hi", 1).source == "if True:\n    _nbs2i_shell('echo hi', capture=False)"


@pytest.mark.parametrize("line", ["!pip install -q numpy pandas", "%pip install numpy pandas",
                                  "!python -m pip install numpy pandas", "!pip3 install numpy pandas"])
def test_pip_lines_are_not_run_but_collected(line):
    out = magics.translate(line, 1)
    assert out.source.startswith("pass  #")
    assert [p.args[-2:] for p in out.pip] == [["numpy", "pandas"]]


def test_cell_time_keeps_line_numbers():
    out = magics.translate("%%time\nx = 1\ny = 2", 3)
    assert out.source.split("\n") == ["_nbs2i_timer_start()", "x = 1", "y = 2", "_nbs2i_timer_stop()"]


@pytest.mark.parametrize("cell, expected", [
    ("%%bash\necho hi\nexit 1", "_nbs2i_shell('echo hi\\nexit 1')"),
    ("%%writefile data.csv\na,b\n1,2", "_nbs2i_writefile('data.csv', 'a,b\\n1,2\\n', False)"),
    ("%%html\n<b>hi</b>", "pass  # nbs2i: %%html cell is display only"),
])
def test_cell_magics(cell, expected):
    assert magics.translate(cell, 1).source == expected


def test_unknown_line_magic_is_dropped_with_a_warning():
    out = magics.translate("%load_ext autoreload\n%who_ls\nx = 1", 4)
    assert out.source.endswith("x = 1")
    assert out.warnings == ["cell 4 line 2: %who_ls has no meaning outside Jupyter; skipped"]


def test_unknown_cell_magic_is_an_error_naming_the_cell():
    with pytest.raises(NotebookError, match=r"Cell 5 starts with the cell magic %%sql"):
        magics.translate("%%sql\nSELECT 1", 5)
