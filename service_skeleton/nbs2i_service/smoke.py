"""`python -m nbs2i_service.smoke MODEL_DIR`: load the model as the service would, run `example`.

Prints the example's answer as JSON (nothing without an example); exits 1 with the reason.
Then it compiles to bytecode every module the service and the model loaded from the venv
and the service's own folder: uv installs without bytecode, and a read-only image would
otherwise compile scikit-learn and the like again on every start. Only what serving
imports is compiled (a fraction of the venv), into hash-checked .pyc files: valid when OUT
is copied into an image whatever the files' times, and never used for a source that changed.
"""
from __future__ import annotations

import importlib
import py_compile
import sys
import traceback
from importlib.util import cache_from_source
from pathlib import Path

from . import encode
from .config import load_config
from .contract import META_EXAMPLE
from .errors import ServiceError
from .model import SampleRejected, load_model


def main(argv: list[str]) -> int:
    model_dir = argv[1]
    try:
        model = load_model(model_dir, load_config().signing_key)
    except ServiceError as exc:
        print(f"loading the model: {exc}", file=sys.stderr)
        return 1
    if META_EXAMPLE not in model.metadata:
        return 0
    example = model.metadata[META_EXAMPLE]
    try:
        prediction = model.predict(example)
    except SampleRejected as exc:
        print(f"the notebook's own example was rejected: {exc.message}. Fix validator/input_schema "
              "or example so they agree.", file=sys.stderr)
        return 1
    except Exception:
        print("predictor(example) raised:\n" + traceback.format_exc(), file=sys.stderr)
        return 1
    try:
        body = encode.dumps({"prediction": prediction})
    except TypeError as exc:
        print(f"predictor(example) returned a value that is not JSON: {exc}. Return lists, dicts, "
              "strings, numbers (numpy and pandas values are converted).", file=sys.stderr)
        return 1
    print(body.decode())
    compile_loaded()
    return 0


# What serving imports besides the model: gunicorn's master, the worker and the app.
SERVING_MODULES = ("gunicorn.app.wsgiapp", "gunicorn.arbiter", "gunicorn.glogging", "nbs2i_service.worker",
                   "nbs2i_service.hotpath", "nbs2i_service.app", "nbs2i_service.threads", "threadpoolctl")


def compile_loaded() -> None:
    for name in SERVING_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    roots = (str(Path(sys.prefix).resolve()), str(Path(__file__).resolve().parents[1]))
    for module in list(sys.modules.values()):
        source = getattr(module, "__file__", None)
        if not source or not source.endswith(".py") or not str(Path(source).resolve()).startswith(roots):
            continue
        cfile = cache_from_source(source)
        if Path(cfile).exists():
            continue
        try:
            py_compile.compile(source, cfile=cfile, doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
        except (OSError, py_compile.PyCompileError):
            pass  # read-only or odd source: it compiles at import, as without this


if __name__ == "__main__":
    sys.exit(main(sys.argv))
