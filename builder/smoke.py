"""Smoke test: load the artifact in a fresh process of the model's venv and run `example`."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .errors import SmokeTestError


def run(python: Path, model_dir: Path, timeout: float) -> str:
    """Return the example's JSON answer ('' without an example); raise SmokeTestError on failure."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["MPLBACKEND"] = "Agg"
    try:
        result = subprocess.run([str(python), "-m", "nbs2i_service.smoke", str(model_dir)], env=env,
                                capture_output=True, text=True, timeout=timeout, cwd="/")
    except subprocess.TimeoutExpired:
        raise SmokeTestError(f"The smoke test did not finish in {timeout:g} s: loading the model or "
                             "predicting the example hangs. Check predictor(example) in the notebook.") from None
    if result.returncode != 0:
        detail = (result.stderr.strip() or result.stdout.strip()).splitlines()
        raise SmokeTestError("The built model failed its smoke test in a fresh process:\n    "
                             + "\n    ".join(detail[-20:]))
    return result.stdout.strip()
