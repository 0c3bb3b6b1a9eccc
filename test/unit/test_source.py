"""Source selection: a notebook file, the only notebook of a directory, or the named one."""
from __future__ import annotations

import pytest

from nbs2i import source
from nbs2i.errors import SourceError
from test.helpers import write_notebook


def test_only_notebook_in_directory(tmp_path):
    path = write_notebook(tmp_path, "x = 1", name="train.ipynb")
    assert source.locate(tmp_path).notebook == path
    assert source.locate(tmp_path).directory == tmp_path


def test_several_notebooks_need_a_choice(tmp_path):
    write_notebook(tmp_path, "x = 1", name="a.ipynb")
    write_notebook(tmp_path, "x = 1", name="b.ipynb")
    with pytest.raises(SourceError, match=r"several notebooks: a.ipynb, b.ipynb. Choose one with --notebook"):
        source.locate(tmp_path)
    assert source.locate(tmp_path, "b.ipynb").notebook.name == "b.ipynb"


def test_no_notebook(tmp_path):
    with pytest.raises(SourceError, match=r"No \*.ipynb in"):
        source.locate(tmp_path)


def test_missing_named_notebook_lists_what_exists(tmp_path):
    write_notebook(tmp_path, "x = 1", name="a.ipynb")
    with pytest.raises(SourceError, match=r"Notebook c.ipynb not found in .*Found: a.ipynb"):
        source.locate(tmp_path, "c.ipynb")


def test_unreadable_notebook(tmp_path):
    (tmp_path / "bad.ipynb").write_text("{not json")
    with pytest.raises(SourceError, match="is not a readable notebook"):
        source.read(source.locate(tmp_path))


def test_notebook_in_a_subfolder_runs_there(tmp_path):
    path = write_notebook(tmp_path / "sub", "x = 1", name="train.ipynb")
    found = source.locate(tmp_path, "sub/train.ipynb")
    assert (found.notebook, found.directory, found.root) == (path, tmp_path / "sub", tmp_path)


def test_notebooks_one_level_down_are_listed_with_the_command_to_use(tmp_path):
    write_notebook(tmp_path / "kmeans", "x = 1", name="kmeans.ipynb")
    write_notebook(tmp_path / "iris", "x = 1", name="iris.ipynb")
    write_notebook(tmp_path / ".ipynb_checkpoints", "x = 1", name="old.ipynb")
    with pytest.raises(SourceError) as err:
        source.locate(tmp_path)
    message = str(err.value)
    assert "but notebooks one level down: iris/iris.ipynb, kmeans/kmeans.ipynb." in message
    assert f"nbs2i build {tmp_path} --notebook kmeans/kmeans.ipynb" in message and "old.ipynb" not in message
    assert source.locate(tmp_path, "kmeans/kmeans.ipynb").directory == tmp_path / "kmeans"
