"""Smoke test: load the artifact in a fresh process of the model's venv and run `example`."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from packaging.utils import canonicalize_name

from .environments import TOOLING
from .errors import SmokeTestError

_MISSING = re.compile(r"No module named '([\w.]+)'")
_NO_FILE = re.compile(r"(?:FileNotFoundError|OSError|IOError): \[Errno 2\] No such file or directory: '([^']+)'")


def run(python: Path, model_dir: Path, timeout: float, providers: dict | None = None,
        notebook_dir: Path | None = None) -> str:
    """Return the example's JSON answer ('' without an example); raise SmokeTestError on failure.
    providers (module -> distribution of the build environment) words a missing module's fix;
    notebook_dir (where the cells ran) a file's that predictor opens by a relative path."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["MPLBACKEND"] = "Agg"
    try:
        result = subprocess.run([str(python), "-m", "nbs2i_service.smoke", str(model_dir)], env=env,
                                capture_output=True, text=True, timeout=timeout, cwd="/")
    except subprocess.TimeoutExpired:
        raise SmokeTestError(f"The smoke test did not finish in {timeout:g} s: loading the model or "
                             "predicting the example hangs. Check predictor(example) in the notebook.") from None
    if result.returncode != 0:
        text = result.stderr.strip() or result.stdout.strip()
        error = SmokeTestError("The built model failed its smoke test in a fresh process of the served "
                               "environment:\n    " + "\n    ".join(text.splitlines()[-20:])
                               + _missing_hint(text, providers or {}) + _file_hint(text, notebook_dir))
        missing = _MISSING.findall(text)
        error.missing = missing[-1].split(".")[0] if missing else None
        raise error
    return result.stdout.strip()


def _file_hint(text: str, notebook_dir: Path | None) -> str:
    """predictor opens a file by a path relative to the notebook's folder: the service runs elsewhere."""
    found = _NO_FILE.findall(text)
    if not found or notebook_dir is None or Path(found[-1]).is_absolute() or not (notebook_dir / found[-1]).exists():
        return ""
    return (f"\n  predictor opens '{found[-1]}' by a path relative to the notebook's folder, where the cells ran; the "
            "service runs elsewhere, and an image holds no source tree. Load it in a cell at top level (e.g. "
            f"model = joblib.load('{found[-1]}')) and use that object in predictor: it then travels in the artifact.")


def _missing_hint(text: str, providers: dict) -> str:
    """The notebook ran with a module that serving does not have: say which, and what to do."""
    found = _MISSING.findall(text)
    if not found:
        return ""
    module = found[-1].split(".")[0]
    dist = providers.get(module)
    if dist and canonicalize_name(dist) not in TOOLING:
        return (f"\n  The model needs the module '{module}' (the package {dist} in the build environment), and "
                f"the served environment (OUT/venv) was derived without it: the example did not reach it. Keep "
                f"it with NBS2I_SERVE_REQUIREMENTS={dist}, or serve every requirement with NBS2I_MINIMAL_ENV=0.")
    return (f"\n  The model needs the module '{module}' to load or predict, and the served environment "
            f"(OUT/venv) does not have it: the notebook ran in a build environment that also holds IPython "
            f"and other notebook tooling, which are never served. If '{module}' is notebook tooling "
            f"(IPython's display(), widgets ...), keep it out of predictor/validator and the objects they "
            f"use; otherwise add the package that provides '{module}' to the notebook's requirements.")
