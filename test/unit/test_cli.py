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


@pytest.mark.parametrize("command", ["build", "serve"])
def test_options_name_their_environment_variable(command):
    for action in _actions(command):
        if action.option_strings and action.dest not in ("help", "out"):
            assert re.search(r"\b(NBS2I_[A-Z_]+|PORT|WEB_CONCURRENCY)\b", action.help), action.option_strings
