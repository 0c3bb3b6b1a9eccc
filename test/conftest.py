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
