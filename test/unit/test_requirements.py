"""Pass 1: every requirements form, the merge with requirements.txt and pip lines, and errors."""
from __future__ import annotations

import pytest

from nbs2i import declared, imports, source
from nbs2i.errors import NotebookError, RequirementsError
from test.helpers import write_notebook


def collect(tmp_path, *cells, txt=None):
    path = write_notebook(tmp_path, *cells)
    if txt is not None:
        (tmp_path / "requirements.txt").write_text(txt)
    src = source.locate(path)
    return [r.text for r in declared.collect(src, source.read(src)).requirements]


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


def test_pins_that_cannot_both_hold_name_both_places(tmp_path):
    with pytest.raises(RequirementsError) as err:
        collect(tmp_path, 'requirements = [["numpy", "1.26.4"]]', txt="numpy==2.0.0\n")
    assert str(err.value) == ("numpy is required as 'numpy==1.26.4' (model.ipynb cell 1) and as 'numpy==2.0.0' "
                              "(requirements.txt line 1); no version satisfies both. Keep one of them, or make them agree.")


@pytest.mark.parametrize("first, second", [("==1.5.0", "==1.4.0"), ("==2.0", "<2"), (">=3", "<2"), (">2", "<=2"),
                                           ("<1", "==1.0"), ("==1.3.*", "~=1.4.0"), ("~=1.4", ">=2"),
                                           ("==1.*", ">=2.0.dev0"), ("~=1.4.2", "<1.4.2")])
def test_provably_empty_intersections_are_errors(tmp_path, first, second):
    with pytest.raises(RequirementsError, match="scikit-learn is required as .* no version satisfies both"):
        collect(tmp_path, f'requirements = ["Scikit_Learn{first}"]', f"!pip install scikit-learn{second}")


@pytest.mark.parametrize("first, second", [("==1.4.*", "~=1.4.0"), ("~=1.4", "<1.9"), ("==1.*", ">=1.9"),
                                           ("~=1.4.2", "<=1.4.2"), ("==1.4.*", ">=1.4.0rc1")])
def test_series_that_overlap_merge(tmp_path, first, second):
    (found,) = collect(tmp_path, f'requirements = ["scikit-learn{first}"]', f"!pip install scikit-learn{second}")
    assert found.startswith("scikit-learn")


def test_mentions_merge_into_one_requirement(tmp_path):
    found = collect(tmp_path, "!pip install pandas scikit-learn MarkupSafe[extra1]",
                    'requirements = [["pandas", "2.2.3"], ["markupsafe", "2.1.5"]]', "%pip install 'pandas>=2'",
                    txt="scikit-learn<2 ; python_version >= '3.9'\nSCIKIT_learn>=1.3 ; python_version >= '3.9'\n")
    assert found == ["pandas==2.2.3,>=2", "scikit-learn", "MarkupSafe[extra1]==2.1.5",
                     'scikit-learn<2,>=1.3; python_version >= "3.9"']


def test_merged_origins_are_all_named(tmp_path):
    path = write_notebook(tmp_path, '!pip install numpy', 'requirements = ["numpy==1.26.4"]')
    src = source.locate(path)
    (only,) = declared.collect(src, source.read(src)).requirements
    assert only.origin == "model.ipynb cell 1 (pip install); model.ipynb cell 2"


@pytest.mark.parametrize("cell, quoted", [
    ("requirements = make_list()", "`requirements = make_list()` is not a literal"),
    ("requirements = 'numpy'", "`requirements = 'numpy'` is not a list"),
    ('requirements = [["numpy", "1.0", "extra"]]', "the entry ['numpy', '1.0', 'extra'] in `requirements` is malformed"),
    ("requirements = [42]", "the entry 42 in `requirements` is malformed"),
    ('requirements = ["numpy=>1"]', "'numpy=>1' is not a valid requirement"),
    ('requirements = [">=1.2"]', "'>=1.2' is not a valid requirement"),  # docs/notebook.md: no package name
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
    from nbs2i import pipeline
    from nbs2i_service.config import load_config

    path = write_notebook(tmp_path, "x = 1", "def f(:\n    pass")
    with pytest.raises(NotebookError) as err:
        pipeline.read_requirements(source.locate(path), load_config({}))
    assert "cell 2 has a syntax error at line 1" in str(err.value)
    assert "def f(:" in str(err.value)


def test_unsupported_option_in_requirements_txt(tmp_path):
    with pytest.raises(RequirementsError, match="requirements.txt line 2: pip's option --user is not supported"):
        collect(tmp_path, "x = 1", txt="numpy\n--user\n")


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
    assert [r.text for r in declared.collect(src, source.read(src)).requirements] == ["tabulate"]
    (tmp_path / "sub" / "requirements.txt").write_text("six\n")  # beside the notebook wins
    assert [r.text for r in declared.collect(src, source.read(src)).requirements] == ["six"]


def test_relaxed_pins_become_lower_bounds():
    from nbs2i import specifiers
    from nbs2i.requirements import make

    reqs, relaxed = specifiers.relax([make("numpy==1.15", "cell 1"), make("scikit-learn<1,==0.19.2", "cell 1"),
                                      make("pandas>=2", "cell 2")])
    assert [r.text for r in reqs] == ["numpy>=1.15", "scikit-learn<1,>=0.19.2", "pandas>=2"]
    assert [(r.name, r.pinned, r.relaxed) for r in relaxed] == [("numpy", "==1.15", ">=1.15"),
                                                                ("scikit-learn", "==0.19.2", ">=0.19.2")]


def test_series_pins_are_relaxed_too():
    from nbs2i import specifiers
    from nbs2i.requirements import make

    # what handson-ml2's requirements.txt (2021) and conda's `numpy=1.19` say
    reqs, relaxed = specifiers.relax([make("numpy~=1.19.5", "requirements.txt"), make("pandas==1.3.*", "environment.yml"),
                                      make("scipy!=1.7.0,>=1.5", "requirements.txt")])
    assert [r.text for r in reqs] == ["numpy>=1.19.5", "pandas>=1.3", "scipy!=1.7.0,>=1.5"]
    assert [(r.name, r.pinned, r.relaxed) for r in relaxed] == [("numpy", "~=1.19.5", ">=1.19.5"),
                                                                ("pandas", "==1.3.*", ">=1.3")]
    assert [specifiers.has_pin(t) for t in ("a~=1.0", "a==1.*", "a===1.0", "a>=1", "a!=1.0", "a")] == [
        True, True, True, False, False, False]


def test_requirements_are_inferred_only_when_nothing_is_declared(tmp_path, capsys):
    (tmp_path / "features.py").write_text("")
    found = collect(tmp_path, "import numpy as np\nimport os, json\nfrom sklearn.cluster import KMeans",
                    "import features\nfrom IPython.display import display\nimport yaml")
    assert found == ["numpy", "scikit-learn", "pyyaml"]
    assert "declares no requirements; inferred from its imports: numpy, scikit-learn, pyyaml" in capsys.readouterr().err
    assert collect(tmp_path / "declared", "import numpy\nimport yaml", 'requirements = ["numpy"]') == ["numpy"]


def test_an_unknown_import_is_named_never_guessed(tmp_path):
    with pytest.raises(RequirementsError) as err:
        collect(tmp_path, "import numpy", "import torchy_nonsense")
    assert "does not know which package provides torchy_nonsense (cell 2); it does not guess" in str(err.value)


def test_inference_skips_optional_imports_and_modules_the_notebook_writes(tmp_path):
    found = collect(tmp_path, "%%writefile mymod.py\ndef f(x):\n    return x",
                    "import mymod\ntry:\n    import torchy_optional\nexcept ImportError:\n    torchy_optional = None",
                    "import numpy")
    assert found == ["numpy"]


def test_constraint_files_narrow_what_is_asked_for(tmp_path):
    (tmp_path / "constraints.txt").write_text("numpy<2\nnever-asked-for==1.0\n")
    assert collect(tmp_path, "x = 1", txt="-c constraints.txt\nnumpy\n") == ["numpy<2"]


def test_a_pip_freeze_of_windows_or_ubuntu_and_the_sklearn_placeholder_mean_what_they_meant(tmp_path, capsys):
    # `pip freeze` on Windows: pywin32 and pywinpty with no marker; on Ubuntu: pkg-resources==0.0.0;
    # an old line naming PyPI's `sklearn`
    txt = "numpy==1.26.4\npywin32==306\npywinpty==2.0.13\nsklearn\npyobjc-framework-Cocoa==10.3\npkg-resources==0.0.0\n"
    assert collect(tmp_path, "import numpy", txt=txt) == [
        "numpy==1.26.4", 'pywin32==306; sys_platform == "win32"', 'pywinpty==2.0.13; sys_platform == "win32"',
        "scikit-learn", 'pyobjc-framework-Cocoa==10.3; sys_platform == "darwin"']
    err = capsys.readouterr().err
    assert ("sklearn (requirements.txt line 4): PyPI's 'sklearn' is a placeholder for scikit-learn, which provides the "
            "'sklearn' import, and its releases refuse to install; installing scikit-learn instead") in err
    assert ('pywin32==306 (requirements.txt line 2) is for one operating system only; installed as if declared '
            '`pywin32==306; sys_platform == "win32"`') in err
    assert "Not installed: pkg-resources==0.0.0 (requirements.txt line 6), which Debian's and Ubuntu's pip" in err


def test_the_sklearn_placeholder_merges_into_a_declared_scikit_learn(tmp_path):
    assert collect(tmp_path, 'requirements = ["scikit-learn==1.5.2"]', txt="sklearn==0.0\n") == ["scikit-learn==1.5.2"]


def test_a_marker_already_written_is_kept(tmp_path):
    assert collect(tmp_path, "x = 1", txt="pywin32==306; platform_system == 'Windows'\n") == [
        'pywin32==306; platform_system == "Windows"']


def test_install_lines_with_local_projects_and_archives(tmp_path):
    # a research repository's demo notebook installs the repository itself, as pip reads the line
    found = collect(tmp_path / "notebooks", "!pip install -e ..\n%pip install . dist/tool-1.0-py3-none-any.whl "
                    "'demo @ https://example.org/demo-1.0.tar.gz' --editable=../lib")
    assert found == [f"-e {tmp_path}", str(tmp_path / "notebooks"),
                     str(tmp_path / "notebooks" / "dist" / "tool-1.0-py3-none-any.whl"),
                     "demo @ https://example.org/demo-1.0.tar.gz", f"-e {tmp_path / 'lib'}"]


def test_a_freeze_of_a_conda_environment_names_folders_of_another_machine(tmp_path, capsys):
    wheel = tmp_path / "vendor" / "tool-1.0-py3-none-any.whl"
    wheel.parent.mkdir()
    wheel.write_bytes(b"")
    txt = ("numpy @ file:///tmp/build/80754af9/numpy_and_numpy_base_1603483703303/work\n"
           "pandas[excel] @ file:///opt/conda/conda-bld/pandas_1604321334/work ; python_version >= '3'\n"
           f"tool @ file://{wheel}\n")
    assert collect(tmp_path, "x = 1", txt=txt) == ["numpy", 'pandas[excel]; python_version >= "3"',
                                                    f"tool @ file://{wheel}"]
    assert ("numpy @ file:///tmp/build/80754af9/numpy_and_numpy_base_1603483703303/work (requirements.txt line 1) "
            "names a folder of the machine it was frozen on (a conda build's); installing numpy from the index "
            "instead") in capsys.readouterr().err


def test_modules_anywhere_in_the_repository_are_its_own_not_packages(tmp_path):
    # cookiecutter-data-science: notebooks/ beside src/, reached with sys.path.append('../src')
    (tmp_path / "src" / "features").mkdir(parents=True)
    (tmp_path / "src" / "features" / "__init__.py").write_text("")
    (tmp_path / "src" / "helpers.py").write_text("")
    (tmp_path / "lessons").mkdir()
    (tmp_path / "lessons" / "pandas.py").write_text("")  # a tutorial's script, named for what it teaches
    nb = write_notebook(tmp_path / "notebooks", "import sys\nsys.path.append('../src')",
                        "import helpers\nfrom features.build import clean\nimport numpy, pandas")
    src = source.locate(tmp_path, "notebooks/model.ipynb")
    assert imports.needed(source.read(src), src) == {"numpy": "cell 2", "pandas": "cell 2"}
    assert nb.is_file()
