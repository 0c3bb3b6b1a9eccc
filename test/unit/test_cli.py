"""`nbs2i ... --help`: every argument has help, and every option of build and serve names
the environment variable it defaults to (the one config loader reads the same names)."""
from __future__ import annotations

import re

import pytest

from nbs2i import cli


def _actions(command: str):
    sub = next(a for a in cli._parser()._actions if a.dest == "command")
    return sub.choices[command]._actions


@pytest.mark.parametrize("command", ["build", "serve", "image", "score", "stream", "requirements"])
def test_every_argument_has_help(command):
    missing = [a.dest for a in _actions(command) if a.dest != "help" and not a.help]
    assert not missing, f"{command}: {missing}"


@pytest.mark.parametrize("command", ["build", "serve", "requirements"])
def test_options_name_their_environment_variable(command):
    for action in _actions(command):
        if action.option_strings and action.dest not in ("help", "out"):
            assert re.search(r"\b(NBS2I_[A-Z_]+|PORT|WEB_CONCURRENCY)\b", action.help), action.option_strings


def test_requirements_takes_the_same_notebook_choice_as_build(tmp_path, capsys):
    from test.helpers import write_notebook

    write_notebook(tmp_path / "ch03", 'requirements = ["six"]', name="ch03.ipynb")
    write_notebook(tmp_path / "ch04", 'requirements = ["tabulate"]', name="ch04.ipynb")
    (tmp_path / "requirements.txt").write_text("numpy\n")
    assert cli.main(["requirements", str(tmp_path), "--notebook", "ch04/ch04.ipynb"]) == 0
    assert capsys.readouterr().out.split() == ["tabulate", "numpy"]
    assert cli.main(["requirements", str(tmp_path), "--notebook", "ch04/ch04.ipynb", "--notebook-requirements-only"]) == 0
    assert capsys.readouterr().out.split() == ["tabulate"]
