"""Pass 1: every requirements form, the merge with requirements.txt and pip lines, and errors."""
from __future__ import annotations

import pytest

from nbs2i import requirements, source
from nbs2i.errors import NotebookError, RequirementsError
from test.helpers import write_notebook


def collect(tmp_path, *cells, txt=None):
    path = write_notebook(tmp_path, *cells)
    if txt is not None:
        (tmp_path / "requirements.txt").write_text(txt)
    src = source.locate(path)
    return [r.text for r in requirements.collect(src, source.read(src))]


@pytest.mark.parametrize("literal, expected", [
    ('[["numpy", "1.26.4"], ["scikit-learn", "1.5.0"]]', ["numpy==1.26.4", "scikit-learn==1.5.0"]),
    ('["numpy>=1.26", "scikit-learn"]', ["numpy>=1.26", "scikit-learn"]),
    ('[["pandas"]]', ["pandas"]),
    ('[["numpy", ">=1.2,<2"]]', ["numpy<2,>=1.2"]),
    ('(("requests", "2.31.0"),)', ["requests==2.31.0"]),
    ('[]', []),
])
def test_literal_forms(tmp_path, literal, expected):
    assert collect(tmp_path, f"requirements = {literal}") == expected


def test_no_requirements_at_all(tmp_path):
    assert collect(tmp_path, "x = 1") == []


def test_requirements_txt_and_pip_lines_are_merged(tmp_path):
    found = collect(tmp_path, 'requirements = [["numpy", "1.26.4"]]', "!pip install -q pandas 'six>=1.16'",
                    "%pip install --upgrade tabulate", txt="# comment\nnumpy==1.26.4\nrequests  # http\n")
    assert found == ["numpy==1.26.4", "pandas", "six>=1.16", "tabulate", "requests"]


def test_pip_requirement_file_option_is_read(tmp_path):
    (tmp_path / "extra.txt").write_text("tabulate\n")
    assert collect(tmp_path, "!pip install -r extra.txt") == ["tabulate"]


def test_same_package_two_ways_names_both_places(tmp_path):
    with pytest.raises(RequirementsError) as err:
        collect(tmp_path, 'requirements = [["numpy", "1.26.4"]]', txt="numpy==2.0.0\n")
    message = str(err.value)
    assert "numpy is required two different ways" in message
    assert "'numpy==1.26.4' (model.ipynb cell 1)" in message
    assert "'numpy==2.0.0' (requirements.txt line 1)" in message


def test_names_are_compared_canonically(tmp_path):
    with pytest.raises(RequirementsError, match="scikit-learn is required two different ways"):
        collect(tmp_path, 'requirements = ["Scikit_Learn==1.5.0"]', "!pip install scikit-learn==1.4.0")


@pytest.mark.parametrize("cell, quoted", [
    ("requirements = make_list()", "`requirements = make_list()` is not a literal"),
    ("requirements = 'numpy'", "`requirements = 'numpy'` is not a list"),
    ('requirements = [["numpy", "1.0", "extra"]]', "the entry ['numpy', '1.0', 'extra'] in `requirements` is malformed"),
    ("requirements = [42]", "the entry 42 in `requirements` is malformed"),
    ('requirements = ["numpy=>1"]', "'numpy=>1' is not a valid requirement"),
    ("requirements += ['x']", "`requirements += ...` cannot be read"),
])
def test_malformed_requirements_quote_the_entry_and_show_the_forms(tmp_path, cell, quoted):
    with pytest.raises(RequirementsError) as err:
        collect(tmp_path, cell)
    assert quoted in str(err.value)
    assert "Accepted forms:" in str(err.value)
    assert "model.ipynb cell 1" in str(err.value)


def test_pass_one_never_runs_notebook_code(tmp_path):
    marker = tmp_path / "ran"
    assert collect(tmp_path, f"open({str(marker)!r}, 'w').write('x')", 'requirements = ["six"]') == ["six"]
    assert not marker.exists()


def test_syntax_error_is_reported_before_anything_runs(tmp_path):
    with pytest.raises(NotebookError) as err:
        collect(tmp_path, "x = 1", "def f(:\n    pass")
    assert "cell 2 has a syntax error at line 1" in str(err.value)
    assert "def f(:" in str(err.value)


def test_unsupported_option_in_requirements_txt(tmp_path):
    with pytest.raises(RequirementsError, match="--index-url is not supported in requirements.txt"):
        collect(tmp_path, "x = 1", txt="--index-url https://example.invalid/simple\nnumpy\n")


@pytest.mark.parametrize("cell, expected", [
    ("%%capture\n!pip install -q tabulate", ["tabulate"]),
    ("import sys\n!{sys.executable} -m pip install six==1.16.0  # pinned", ["six==1.16.0"]),
    ("%%bash\npip install requests\necho done", ["requests"]),
    ("if True:\n    !pip install pyyaml", ["pyyaml"]),
    ("!conda install -y -c conda-forge tabulate", ["tabulate"]),
    ("!pip list\n!pip freeze > frozen.txt", []),
])
def test_install_lines_as_ipython_reads_them(tmp_path, cell, expected):
    assert collect(tmp_path, cell) == expected


def test_install_lines_inside_strings_are_text(tmp_path):
    assert collect(tmp_path, 'NOTE = """\n!pip install nothing\n%pip install nothing-either\n"""') == []


def test_requirements_txt_at_the_root_serves_a_notebook_in_a_subfolder(tmp_path):
    write_notebook(tmp_path / "sub", "x = 1", name="train.ipynb")
    (tmp_path / "requirements.txt").write_text("tabulate\n")
    src = source.locate(tmp_path, "sub/train.ipynb")
    assert [r.text for r in requirements.collect(src, source.read(src))] == ["tabulate"]
    (tmp_path / "sub" / "requirements.txt").write_text("six\n")  # beside the notebook wins
    assert [r.text for r in requirements.collect(src, source.read(src))] == ["six"]
