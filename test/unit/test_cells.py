"""Cells as IPython reads them: its transformer, not ours; syntax checked before anything runs."""
from __future__ import annotations

import pytest

from nbs2i import cells, source
from nbs2i.errors import NotebookError
from test.helpers import write_notebook


def code(tmp_path, *sources):
    src = source.locate(write_notebook(tmp_path, *sources))
    found = cells.code_cells(source.read(src))
    cells.check_syntax(found, src.notebook)
    return found


@pytest.mark.parametrize("cell, python", [
    ("    answer = 42\n    print(answer)", "answer = 42\nprint(answer)\n"),               # dedented
    ("!ls {path}", "get_ipython().system('ls {path}')\n"),                                  # expanded at run time
    ("files = !ls", "files = get_ipython().getoutput('ls')\n"),
    ("model?", "get_ipython().run_line_magic('pinfo', 'model')\n"),
    ("%%time\nx = 1", "get_ipython().run_cell_magic('time', '', 'x = 1\\n')\n"),
    ('s = """\n%d rows\n!important\n"""', 's = """\n%d rows\n!important\n"""\n'),           # strings stay text
    ("x = (minutes\n   % 60)", "x = (minutes\n   % 60)\n"),                                # so do continuations
])
def test_cells_are_transformed_by_ipython(tmp_path, cell, python):
    assert code(tmp_path, cell)[0].python == python


def test_cell_numbers_count_markdown_cells(tmp_path):
    assert [c.index for c in code(tmp_path, "# md: intro", "x = 1", "# md: more", "y = 2")] == [2, 4]


def test_syntax_error_names_the_cell_and_points_at_it(tmp_path):
    with pytest.raises(NotebookError) as err:
        code(tmp_path, "x = 1", "# md: text", "def predictor(s)\n    return s")
    message = str(err.value)
    assert "model.ipynb: cell 3 has a syntax error at line 1" in message
    assert "def predictor(s)" in message and "Fix the cell" in message


def test_long_cells_are_cut_in_messages():
    text = cells.excerpt("\n".join(f"line{i}" for i in range(20)))
    assert text.splitlines() == ["    line0", "    line1", "    line2", "    line3", "    ... (15 more lines)",
                                 "    line19"]


def test_binding_finds_what_a_cell_binds_at_its_top_level(tmp_path):
    found = code(
        tmp_path, "def f():\n    import seaborn as sns", "for i in range(2):\n    if i:\n        import numpy as np",
        "try:\n    import matplotlib.pyplot as plt\nexcept ImportError:\n    plt = None", "x, (y, z) = 1, (2, 3)",
        "with open('f') as handle:\n    pass", "class Model:\n    pass")
    assert cells.binding(found, "np") == (found[1], "import numpy as np")
    assert cells.binding(found, "plt") == (found[2], "import matplotlib.pyplot as plt")
    assert cells.binding(found, "z")[0] is found[3] and cells.binding(found, "handle")[0] is found[4]
    assert cells.binding(found, "Model") == (found[5], "class Model:")
    assert cells.binding(found, "sns") is None  # inside a function: never bound at the top level
