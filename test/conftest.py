"""Session fixtures: the kmeans example built once, for every test that serves it."""
from __future__ import annotations

from pathlib import Path

import pytest

from test.helpers import REPO, nbs2i


@pytest.fixture(scope="session")
def kmeans_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("kmeans") / "out"
    result = nbs2i("build", str(REPO / "examples" / "kmeans"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


REPORT: list[str] = []


@pytest.fixture(scope="session")
def report():
    """Lines printed at the end of the run (image sizes, build times): figures, not assertions."""
    return REPORT


def pytest_terminal_summary(terminalreporter):
    if REPORT:
        terminalreporter.section("nbs2i report")
        for line in REPORT:
            terminalreporter.write_line(line)
