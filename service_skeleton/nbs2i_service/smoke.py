"""`python -m nbs2i_service.smoke MODEL_DIR`: load the model as the service would, run `example`.

Prints the example's answer as JSON (nothing without an example); exits 1 with the reason,
also when that answer is not the one the notebook's own run gave (metadata.json's
example_prediction, compared as answers.py compares), or when a module serving needs
(gunicorn, gevent, the service's own) does not import here. Then it compiles to bytecode
every module the service and the model loaded from the venv and the service's own folder: uv
installs without bytecode, and a read-only image would otherwise compile scikit-learn and the
like again on every start. Only what serving imports is compiled (a fraction of the venv),
into hash-checked .pyc files: valid when OUT is copied into an image whatever the files'
times, and never used for a source that changed.
"""
from __future__ import annotations

import importlib
import py_compile
import sys
import traceback
from importlib.util import cache_from_source
from pathlib import Path

from . import answers, encode
from .config import load_config
from .contract import META_EXAMPLE, META_EXAMPLE_PREDICTION
from .errors import ServiceError
from .model import SampleRejected, load_model


def main(argv: list[str]) -> int:
    model_dir = argv[1]
    try:
        model = load_model(model_dir)  # unsigned yet: the build signs once the smoke test passed
    except ServiceError as exc:
        print(f"loading the model: {exc}", file=sys.stderr)
        return 1
    if META_EXAMPLE in model.metadata:
        problem = _answer_example(model)
        if problem:
            print(problem, file=sys.stderr)
            return 1
    problem = _import_serving()
    if problem:
        print(problem, file=sys.stderr)
        return 1
    compile_loaded()
    return 0


def _answer_example(model) -> str | None:
    """Print the example's answer; what is wrong with it, or None."""
    example = model.metadata[META_EXAMPLE]
    try:
        prediction = model.predict(example)
    except SampleRejected as exc:
        return (f"the notebook's own example was rejected: {exc.message}. Fix validator/input_schema "
                "or example so they agree.")
    except Exception:
        return "predictor(example) raised:\n" + traceback.format_exc()
    try:
        served = answers.as_sent(prediction)
    except TypeError as exc:
        return (f"predictor(example) returned a value that is not JSON: {exc}. Return lists, dicts, "
                "strings, numbers (numpy and pandas values are converted).")
    print(encode.dumps({"prediction": served}).decode())
    if META_EXAMPLE_PREDICTION in model.metadata:
        ran = model.metadata[META_EXAMPLE_PREDICTION]
        where = answers.difference(served, ran)
        if where is not None:
            return (f"the served environment answers the example with {answers.shown(served)}, but the notebook's "
                    f"own run answered {answers.shown(ran)} (they differ at {where}). The model behaves differently "
                    "outside the build environment: most likely it uses a module or a setting that only the build "
                    "environment has (a package the notebook's cells imported that serving left out, one loaded only "
                    "by IPython, an environment variable or a file of the build). Keep the package with "
                    "NBS2I_SERVE_REQUIREMENTS, or serve every requirement with NBS2I_MINIMAL_ENV=0.")
    return None


# What serving imports besides the model: gunicorn's master, the gevent worker and the app.
SERVING_MODULES = ("gunicorn.app.wsgiapp", "gunicorn.arbiter", "gunicorn.glogging", "gevent", "gevent.monkey",
                   "gunicorn.workers.ggevent", "gunicorn.workers.gthread", "nbs2i_service.worker",
                   "nbs2i_service.front", "nbs2i_service.app", "nbs2i_service.batching", "nbs2i_service.accesslog",
                   "nbs2i_service.threads", "threadpoolctl")


def _import_serving() -> str | None:
    for name in SERVING_MODULES:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            return (f"serving needs the module {name}, which does not import in the served environment "
                    f"({type(exc).__name__}: {exc}). The service's own packages (builder/environments.py "
                    "SERVICE_REQUIREMENTS) did not install whole; a requirement of the notebook may pin one of them "
                    "(gunicorn, gevent, flask) to a release that does not fit.")
    return None


def compile_loaded() -> None:
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
