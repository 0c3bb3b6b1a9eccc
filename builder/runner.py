# nbs2i runner: the top of every script nbs2i generates from a notebook (see convert.py).
# It runs in the model's venv, not the builder's: only the standard library and the
# service package (nbs2i_service, made importable by the build) are available.
# It runs the cells in order, records their output, and on success pickles the
# notebook's predictor/validator/batch_predictor into the model folder. Facts about
# what happened go to the JSON report at $NBS2I_REPORT; the builder words the messages.
import base64 as _nbs2i_base64
import builtins as _nbs2i_builtins
import io as _nbs2i_io
import json as _nbs2i_json
import linecache as _nbs2i_linecache
import os as _nbs2i_os
import subprocess as _nbs2i_subprocess
import sys as _nbs2i_sys
import time as _nbs2i_time
import traceback as _nbs2i_traceback
import warnings as _nbs2i_warnings

_nbs2i_warnings.filterwarnings("ignore", message=".*non-interactive.*cannot be shown")
_nbs2i_outputs = {}
_nbs2i_timer = []


class ShellCommandError(RuntimeError):
    """A `!command` in the notebook exited non-zero."""


class _Nbs2iTee:
    """Writes to the build log and to the current cell's recorded output."""

    def __init__(self, stream):
        self.stream, self.buffer = stream, None

    def write(self, text):
        if self.buffer is not None:
            self.buffer.write(text)
        return self.stream.write(text)

    def flush(self):
        self.stream.flush()

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _nbs2i_shell(command, capture=False):
    result = _nbs2i_subprocess.run(command, shell=True, stdout=_nbs2i_subprocess.PIPE,
                                   stderr=_nbs2i_subprocess.STDOUT, text=True)
    if not capture:
        _nbs2i_sys.stdout.write(result.stdout)
    if result.returncode != 0:
        raise ShellCommandError(f"shell command {command!r} exited with status {result.returncode}: "
                                f"{result.stdout.strip()[-500:]}")
    return result.stdout.splitlines() if capture else None


def _nbs2i_timer_start():
    _nbs2i_timer.append(_nbs2i_time.perf_counter())


def _nbs2i_timer_stop():
    print(f"Wall time: {_nbs2i_time.perf_counter() - _nbs2i_timer.pop():.3f} s")


def _nbs2i_env(text):
    name, sep, value = text.replace("=", " ", 1).partition(" ")
    if sep:
        _nbs2i_os.environ[name.strip()] = value.strip()
    else:
        print(_nbs2i_os.environ.get(name.strip(), ""))


def _nbs2i_writefile(name, body, append):
    with open(name, "a" if append else "w", encoding="utf-8") as handle:
        handle.write(body)


def _nbs2i_display(*objects, **_options):
    for obj in objects:
        if type(obj).__name__ != "Figure":  # figures are recorded after the cell
            print(repr(obj))


class _Nbs2iIPythonShim:
    """Serves `from IPython.display import display` when IPython is not in the venv.

    Last on sys.meta_path, so a real IPython wins; present only once the notebook imports it.
    """

    names = ("IPython", "IPython.display")

    def find_spec(self, name, path=None, target=None):
        import importlib.util

        return importlib.util.spec_from_loader(name, self) if name in self.names else None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        module.version_info = (8, 24, 0)  # what matplotlib checks before asking get_ipython()
        module.get_ipython = lambda: None  # "not inside IPython"
        module.display = _nbs2i_display
        module.clear_output = lambda *a, **k: None
        for name in ("HTML", "Markdown", "Image", "JSON", "Latex", "SVG"):
            setattr(module, name, lambda data=None, *a, **k: data)
        if module.__name__ == "IPython":
            module.__path__ = []


def _nbs2i_install_display():
    _nbs2i_builtins.display = _nbs2i_display
    _nbs2i_sys.meta_path.append(_Nbs2iIPythonShim())


def _nbs2i_figures():
    """PNGs of the figures a cell left open, then closed (as Jupyter's inline backend does)."""
    pyplot = _nbs2i_sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return []
    images = []
    for number in pyplot.get_fignums():
        buffer = _nbs2i_io.BytesIO()
        pyplot.figure(number).savefig(buffer, format="png")
        images.append(_nbs2i_base64.b64encode(buffer.getvalue()).decode())
    pyplot.close("all")
    return images


def _nbs2i_report(**facts):
    facts["outputs"] = _nbs2i_outputs
    with open(_nbs2i_os.environ["NBS2I_REPORT"], "w", encoding="utf-8") as handle:
        _nbs2i_json.dump(facts, handle)


def _nbs2i_notebook_traceback(exc):
    """The traceback from the notebook's frames only: the runner's own frames are dropped."""
    frames = [f for f in _nbs2i_traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
    text = "".join(_nbs2i_traceback.format_list(frames))
    return "Traceback (most recent call last):\n" + text + "".join(_nbs2i_traceback.format_exception_only(exc))


def _nbs2i_run(cells, namespace):
    tee = _Nbs2iTee(_nbs2i_sys.stdout)
    _nbs2i_sys.stdout = tee
    for index, source in cells:
        filename = f"<cell {index}>"
        _nbs2i_linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        print(f"---> cell {index}", file=_nbs2i_sys.stderr, flush=True)
        tee.buffer = _nbs2i_io.StringIO()
        started = _nbs2i_time.perf_counter()
        try:
            exec(compile(source, filename, "exec"), namespace)
        except BaseException as exc:  # SystemExit and KeyboardInterrupt in a cell fail the build too
            _nbs2i_outputs[index] = {"stdout": tee.buffer.getvalue(), "images": _nbs2i_figures()}
            _nbs2i_report(status="error", kind="cell", cell=index,
                          exception=_nbs2i_traceback.format_exception_only(exc)[-1].strip(),
                          traceback=_nbs2i_notebook_traceback(exc))
            _nbs2i_sys.exit(3)
        _nbs2i_outputs[index] = {"stdout": tee.buffer.getvalue(), "images": _nbs2i_figures(),
                                 "seconds": round(_nbs2i_time.perf_counter() - started, 3)}
    tee.buffer = None


def _nbs2i_by_value(source_dir):
    """Modules imported from the user's repository travel inside the artifact, by value."""
    import cloudpickle

    prefix = _nbs2i_os.path.realpath(_nbs2i_sys.prefix)
    for name, module in list(_nbs2i_sys.modules.items()):
        path = _nbs2i_os.path.realpath(getattr(module, "__file__", None) or "/")
        if "." in name or not path.startswith(source_dir + _nbs2i_os.sep) or path.startswith(prefix):
            continue
        cloudpickle.register_pickle_by_value(module)


def _nbs2i_finish(namespace, model_dir, source_dir):
    from nbs2i_service import artifact, contract

    found = {}
    for name in contract.CALLABLES:
        if name not in namespace:
            continue
        if not callable(namespace[name]):
            return _nbs2i_report(status="error", kind="not_callable", name=name,
                                 type=type(namespace[name]).__name__)
        found[name] = namespace[name]
    if contract.PREDICTOR not in found:
        return _nbs2i_report(status="error", kind="no_predictor", name=contract.PREDICTOR)
    data_names = {}
    for name in (contract.EXAMPLE, contract.INPUT_SCHEMA):
        if name in namespace:
            try:
                data_names[name] = _nbs2i_json.loads(_nbs2i_json.dumps(namespace[name], allow_nan=False))
            except (TypeError, ValueError) as exc:
                return _nbs2i_report(status="error", kind="not_json", name=name, exception=str(exc))
    _nbs2i_by_value(source_dir)
    try:
        data = artifact.dumps(found)
    except Exception:
        for name, obj in found.items():  # name the object that cannot travel
            try:
                artifact.dumps({name: obj})
            except Exception as exc:
                return _nbs2i_report(status="error", kind="unpicklable", name=name,
                                     exception=f"{type(exc).__name__}: {exc}")
        raise
    with open(_nbs2i_os.path.join(model_dir, contract.ARTIFACT_FILE), "wb") as handle:
        handle.write(data)
    _nbs2i_report(status="ok", callables=sorted(found), data=data_names)


def _nbs2i_main(cells, model_dir, source_dir):
    _nbs2i_install_display()
    namespace = _nbs2i_sys.modules["__main__"].__dict__
    _nbs2i_run(cells, namespace)
    _nbs2i_finish(namespace, model_dir, source_dir)
