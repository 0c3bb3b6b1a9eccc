# nbs2i runner: the top of every script nbs2i generates from a notebook (see convert.py).
# It runs in the build environment (the notebook's requirements plus IPython), started in
# the notebook's folder, and runs the cells with IPython's own InteractiveShell, as a
# Jupyter kernel would: IPython transforms, expands and executes; this file only records
# what each cell showed and, at the end, pickles the notebook's predictor/validator/
# batch_predictor into the model folder. Facts go to the JSON report at $NBS2I_REPORT;
# the builder words the messages. Only the standard library, IPython and the service
# package (nbs2i_service) are imported here. The notebook's own namespace is IPython's
# user namespace, so nothing defined here is visible to the notebook.
import base64
import json
import os
import re
import subprocess
import sys
import time

from IPython.core.compilerop import CachingCompiler
from IPython.core.displayhook import DisplayHook
from IPython.core.displaypub import DisplayPublisher
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

LOG_PREVIEW_LINES = 10  # a displayed value or Out[n] shows this many lines in the build log


class Outputs:
    """The current cell's outputs, in order, as nbformat v4 output dicts."""

    def __init__(self):
        self.by_cell, self.current = {}, None

    def start(self, index):
        self.current = self.by_cell.setdefault(str(index), {"outputs": []})

    def add(self, output):
        if self.current is not None:
            self.current["outputs"].append(output)

    def stream(self, name, text):
        if self.current is None or not text:
            return
        outputs = self.current["outputs"]
        if outputs and outputs[-1]["output_type"] == "stream" and outputs[-1]["name"] == name:
            outputs[-1]["text"] += text
        else:
            outputs.append({"output_type": "stream", "name": name, "text": text})

    def clear(self):
        if self.current is not None:
            self.current["outputs"] = []


OUTPUTS = Outputs()


class Tee:
    """sys.stdout/sys.stderr: the build log gets everything, the cell's record gets it too."""

    def __init__(self, stream, name):
        self.stream, self.name = stream, name

    def write(self, text):
        OUTPUTS.stream(self.name, text)
        return self.stream.write(text)

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _mime_bundle(data):
    """A format dict as JSON: bytes (a PNG from some formatters) become base64 text."""
    return {mime: base64.b64encode(value).decode() if isinstance(value, bytes) else value
            for mime, value in data.items()}


def _log_preview(prefix, data):
    text = data.get("text/plain")
    if text:
        lines = str(text).splitlines()
        more = f"\n... ({len(lines) - LOG_PREVIEW_LINES} more lines)" if len(lines) > LOG_PREVIEW_LINES else ""
        sys.__stdout__.write(prefix + "\n".join(lines[:LOG_PREVIEW_LINES]) + more + "\n")


class RecordingPublisher(DisplayPublisher):
    """display(...) as a kernel sends it: a display_data output of the cell."""

    def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
        OUTPUTS.add({"output_type": "display_data", "data": _mime_bundle(data), "metadata": metadata or {}})
        _log_preview("", data)

    def clear_output(self, wait=False):
        OUTPUTS.clear()


class RecordingHook(DisplayHook):
    """A cell's last expression, as Out[n]: an execute_result output of the cell."""

    def write_output_prompt(self):
        pass

    def write_format_data(self, format_dict, md_dict=None):
        count = self.shell.execution_count
        OUTPUTS.add({"output_type": "execute_result", "execution_count": count,
                     "data": _mime_bundle(format_dict), "metadata": md_dict or {}})
        _log_preview(f"Out[{count}]: ", format_dict)

    def finish_displayhook(self):
        sys.stdout.flush()
        self._is_active = False


class CellCompiler(CachingCompiler):
    """Names compiled code `<cell N>` (N: the cell's position in the notebook) for tracebacks."""

    cell = 0

    def get_code_name(self, raw_code, transformed_code, number):
        return f"<cell {self.cell}>"

    def format_code_name(self, name):
        return None


class BuildShell(InteractiveShell):
    """IPython's shell as a kernel runs it, with a build's choices where a build differs:
    figures render inline (no GUI), package installs are left to the build, and shell
    commands run without a terminal."""

    displayhook_class = RecordingHook
    display_pub_class = RecordingPublisher
    compiler_class = CellCompiler

    def __init__(self, pip_pattern, **kwargs):
        super().__init__(**kwargs)
        self.pip_pattern, self.last_traceback, self.shell_failures = pip_pattern, "", []
        for name in ("pip", "conda", "mamba"):
            self.register_magic_function(self._install_magic(name), "line", name)

    def enable_matplotlib(self, gui=None):
        return super().enable_matplotlib("inline")  # %matplotlib qt/notebook/widget: no screen here

    def enable_gui(self, gui=None):
        pass

    def _install_magic(self, tool):
        def magic(line):
            self.run_command(f"{tool} {line}")
        magic.__name__ = tool
        return magic

    def system_piped(self, cmd):
        """`!cmd`: IPython expands {expr} and $name in the caller's namespace, then we run it."""
        self.run_command(self.var_expand(cmd, depth=1))

    system = system_piped

    def run_command(self, cmd):
        if cmd.rstrip().endswith("&"):  # as IPython: its output could never be read to the end
            raise OSError("Background processes not supported.")
        if re.match(self.pip_pattern, cmd.strip()):
            print(f"nbs2i: `{cmd.strip()}` not run: the build installed the notebook's requirements before "
                  "running it (see the build log).")
            self.user_ns["_exit_code"] = 0
            return
        proc = subprocess.Popen(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, text=True, errors="replace")
        for line in proc.stdout:
            sys.stdout.write(line)
        code = proc.wait()
        self.user_ns["_exit_code"] = code
        if code != 0:  # Jupyter goes on too; the builder warns
            self.shell_failures.append({"cell": self.compile.cell, "command": cmd, "exit_code": code})
            print(f"---> warning: cell {self.compile.cell}: `{cmd}` exited with status {code}; Jupyter "
                  "goes on after a failed command, and so does the build", file=sys.__stderr__, flush=True)

    def _showtraceback(self, etype, evalue, stb):
        self.last_traceback = self.InteractiveTB.stb2text(stb)
        OUTPUTS.add({"output_type": "error", "ename": etype.__name__ if etype else "Error",
                     "evalue": str(evalue), "traceback": list(stb)})
        print(self.last_traceback, file=sys.__stderr__, flush=True)


def start_shell(pip_pattern, directory):
    config = Config()
    config.HistoryManager.enabled = False  # no sqlite history file in a build
    config.InteractiveShell.xmode = "Plain"
    config.InteractiveShell.colors = "nocolor"
    shell = BuildShell.instance(pip_pattern, config=config)
    sys.path[0] = directory  # as a kernel started in the notebook's folder
    try:
        from matplotlib_inline.config import InlineBackend  # %config InlineBackend.figure_format = 'retina'

        shell.configurables.append(InlineBackend.instance(parent=shell))
    except Exception:  # no matplotlib, or one that cannot import: the cell that uses it fails, named
        pass
    return shell


def write_report(**facts):
    facts["outputs"] = OUTPUTS.by_cell
    with open(os.environ["NBS2I_REPORT"], "w", encoding="utf-8") as handle:
        json.dump(facts, handle, default=repr)


def run_cells(shell, cells):
    """Run each cell as Jupyter would; stop at the first that fails. Returns the failure or None."""
    for count, (index, source) in enumerate(cells, start=1):
        print(f"---> cell {index}", file=sys.__stderr__, flush=True)
        shell.compile.cell = index
        OUTPUTS.start(index)
        OUTPUTS.current["execution_count"] = count
        started = time.perf_counter()
        result = shell.run_cell(source, store_history=True)
        OUTPUTS.current["seconds"] = round(time.perf_counter() - started, 3)
        error = result.error_before_exec or result.error_in_exec
        if error is not None:
            return {"kind": "cell", "cell": index, "exception": f"{type(error).__name__}: {error}".rstrip(": "),
                    "traceback": shell.last_traceback, "installed": installed_parent(error),
                    "package": package_cause(error, shell.user_ns)}
    return None


def package_cause(error, namespace):
    """The installed distribution a cell's error comes from, when it does: raised inside its code, or a
    module or name of it that the installed release no longer has (sklearn.externals.joblib, np.float,
    DataFrame.append). {"distribution", "version", "how"}, or None for the notebook's own errors."""
    import importlib.metadata
    import re
    import sysconfig
    import traceback

    roots = {os.path.realpath(sysconfig.get_path(k)) + os.sep for k in ("purelib", "platlib")}
    top, how = None, "a name its installed release does not have"
    if isinstance(error, ModuleNotFoundError) and "." in (error.name or ""):
        top, how = error.name.split(".")[0], f"a module its installed release does not have ({error.name})"
    elif isinstance(error, ImportError) and not isinstance(error, ModuleNotFoundError) and error.name:
        top = error.name.split(".")[0]
    elif isinstance(error, AttributeError) and getattr(error, "obj", None) is not None:
        obj = error.obj
        top = (obj.__name__ if isinstance(obj, type(os)) else type(obj).__module__).split(".")[0]
    elif isinstance(error, TypeError):  # DataFrame.drop() takes 2 positional arguments but 3 were given
        called = re.match(r"(\w+)\.\w+\(\)", str(error))
        types = {type(v) for v in namespace.values()} | {v for v in namespace.values() if isinstance(v, type)}
        top = next((t.__module__.split(".")[0] for t in types if called and t.__name__ == called.group(1)), None)
        how = "a call its installed release refuses"
    if top is None:
        in_cells, how = False, "raised inside its code"
        for frame, _ in traceback.walk_tb(error.__traceback__):  # below the cell, the innermost installed frame
            name = frame.f_code.co_filename
            in_cells = in_cells or name.startswith("<cell ")  # the frames above the first cell run it (IPython)
            root = next((r for r in roots if os.path.realpath(name).startswith(r)), None) if in_cells else None
            if root:
                top = os.path.realpath(name)[len(root):].split(os.sep)[0].removesuffix(".py")
    dist = importlib.metadata.packages_distributions().get(top or "", [None])[0]
    if dist is None or top in sys.stdlib_module_names:
        return None
    try:
        return {"distribution": dist, "version": importlib.metadata.version(dist), "how": how}
    except importlib.metadata.PackageNotFoundError:
        return None


def installed_parent(error):
    """For `No module named 'sklearn.cross_validation'`: the installed package that provides
    'sklearn' (name, version), so the message can say the submodule is gone, not the package."""
    import importlib.metadata
    import importlib.util

    name = getattr(error, "name", None) if isinstance(error, ModuleNotFoundError) else None
    if not name or "." not in name:
        return None
    top = name.split(".")[0]
    try:
        if importlib.util.find_spec(top) is None:
            return None
        dist = importlib.metadata.packages_distributions().get(top, [None])[0]
        return {"module": top, "distribution": dist, "version": importlib.metadata.version(dist) if dist else None}
    except (ImportError, ValueError, importlib.metadata.PackageNotFoundError):
        return None


def pickle_by_value(root):
    """Modules imported from the user's repository travel inside the artifact, by value; the
    results of `files = !ls` (IPython's SList, LSString) travel as the list and str they are,
    so serving never needs IPython for them."""
    import copyreg

    import cloudpickle
    from IPython.utils.text import LSString, SList

    copyreg.pickle(SList, lambda value: (list, (list(value),)))
    copyreg.pickle(LSString, lambda value: (str, (str(value),)))

    prefix = os.path.realpath(sys.prefix) + os.sep
    for name, module in list(sys.modules.items()):
        path = os.path.realpath(getattr(module, "__file__", None) or "/")
        if "." not in name and path.startswith(root + os.sep) and not path.startswith(prefix):
            cloudpickle.register_pickle_by_value(module)


def finish(namespace, model_dir, root, options):
    """Check what the notebook defined and pickle it; the report says what went wrong."""
    from nbs2i_service import artifact, contract

    found = {}
    for name in contract.CALLABLES:
        if name not in namespace:
            continue
        if not callable(namespace[name]):
            return {"kind": "not_callable", "name": name, "type": type(namespace[name]).__name__}
        found[name] = namespace[name]
    if contract.PREDICTOR not in found:
        return {"kind": "no_predictor", "name": contract.PREDICTOR}
    data = {}
    for name in (contract.EXAMPLE, contract.INPUT_SCHEMA):
        if name in namespace:
            try:
                data[name] = json.loads(json.dumps(namespace[name], allow_nan=False))
            except (TypeError, ValueError) as exc:
                return {"kind": "not_json", "name": name, "exception": str(exc)}
    pickle_by_value(root)
    try:
        pickled = artifact.dumps(found)
    except Exception:
        for name, obj in found.items():  # name the object that cannot travel
            try:
                artifact.dumps({name: obj})
            except Exception as exc:
                return {"kind": "unpicklable", "name": name, "exception": f"{type(exc).__name__}: {exc}"}
        raise
    checked = check_answers(namespace, found, data, options)
    if "kind" in checked:
        return checked
    profiled = write_profile(namespace, found, data, options, model_dir)
    if "kind" in profiled:
        return profiled
    with open(os.path.join(model_dir, contract.ARTIFACT_FILE), "wb") as handle:
        handle.write(pickled)
    return {"callables": sorted(found), "data": data, **checked, **profiled}


def write_profile(namespace, found, data, options, model_dir):
    """The training data's profile (nbs2i_service/profile.py) in the model folder; never its rows."""
    import hashlib

    from nbs2i_service import answers, contract, profile, reference

    example = data.get(contract.EXAMPLE)
    try:
        ref, why = reference.find(namespace, example, options.get("reference"))
    except reference.ReferenceError as exc:
        return {"kind": "reference_invalid", "message": str(exc)}
    if ref is None:
        return {"reference_off": why}
    if example is None:  # reference_data without an example: its first row gives the features
        example = next(reference.samples(ref, None, 1))
    predictor, batch = found[contract.PREDICTOR], found.get(contract.BATCH_PREDICTOR)

    def score(samples):
        if batch is not None:
            try:
                return list(batch(samples))
            except Exception:
                pass
        answered = []
        for sample in samples:
            try:
                answered.append(answers.as_sent(predictor(sample)))
            except Exception:
                answered.append(None)
        return answered

    try:
        made = profile.make(ref, example, score)
        text = json.dumps(made, allow_nan=False, separators=(",", ":")).encode()
    except Exception as exc:  # drift is a help, never a reason for the build to fail
        return {"reference_off": f"no reference profile: {ref.name!r} could not be profiled "
                                 f"({type(exc).__name__}: {exc}), so drift is off"}
    with open(os.path.join(model_dir, contract.REFERENCE_FILE), "wb") as handle:
        handle.write(text)
    return {"reference": {"file": contract.REFERENCE_FILE, "sha256": hashlib.sha256(text).hexdigest(),
                          "variable": ref.name, "rows": ref.rows, "features": [f["name"] for f in made["features"]],
                          "prediction": made["prediction"] is not None, "why": why}}


def _from_the_notebook(exc):
    """The traceback of an exception the notebook's function raised, from that function down (not ours)."""
    import traceback

    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


BATCH_CHECK_ROWS = 16  # rows of the training data the batch check scores beside the example


def check_answers(namespace, found, data, options):
    """The answers of the notebook's own run: predictor(example), which the smoke test compares the
    served environment's with, and batch_predictor against predictor on the example and a few rows
    of the training data (gathering concurrent requests must never change an answer)."""
    from nbs2i_service import answers, contract, reference

    if contract.EXAMPLE not in data:
        return {}
    example, predictor = data[contract.EXAMPLE], found[contract.PREDICTOR]
    try:
        first, again = (predictor(answers.as_sent(example)) for _ in range(2))
    except Exception as exc:
        return {"kind": "example_failed", "traceback": _from_the_notebook(exc)}
    try:
        first, again = answers.as_sent(first), answers.as_sent(again)
    except TypeError as exc:
        return {"kind": "example_not_json", "exception": str(exc)}
    if answers.difference(first, again) is not None:  # random or time-dependent: nothing to compare with
        return {"nondeterministic": [first, again]}
    facts = {"example_prediction": first}
    if contract.BATCH_PREDICTOR not in found:
        return facts
    try:
        ref, _ = reference.find(namespace, example, options.get("reference"))
    except reference.ReferenceError:
        ref = None  # the profile's step reports it; the example alone is checked here
    samples = [example] + (list(reference.samples(ref, example, BATCH_CHECK_ROWS)) if ref else [])
    validator = found.get(contract.VALIDATOR)
    one_by_one = []
    for sample in samples:
        try:
            if validator is None or validator(answers.as_sent(sample)):
                one_by_one.append((sample, answers.as_sent(predictor(answers.as_sent(sample)))))
        except Exception:  # a row the service would refuse, or predictor fails on alone: not an answer to compare
            pass
    try:
        together = answers.as_sent(list(found[contract.BATCH_PREDICTOR]([answers.as_sent(s) for s, _ in one_by_one])))
    except Exception as exc:
        return {"kind": "batch_failed", "samples": len(one_by_one), "traceback": _from_the_notebook(exc)}
    if len(together) != len(one_by_one):
        return {"kind": "batch_count", "samples": len(one_by_one), "answers": len(together)}
    for index, ((sample, alone), batched) in enumerate(zip(one_by_one, together)):
        where = answers.difference(batched, alone)
        if where is not None:
            return {"kind": "batch_disagrees", "index": index, "sample": sample, "alone": alone,
                    "batched": batched, "where": where, "samples": len(one_by_one),
                    "rows": ref.name if ref else None}
    facts["batch_checked"] = {"samples": len(one_by_one), "rows_from": ref.name if ref else None}
    return facts


def main(cells, model_dir, root, pip_pattern, options):
    sys.stdout, sys.stderr = Tee(sys.stdout, "stdout"), Tee(sys.stderr, "stderr")
    shell = start_shell(pip_pattern, os.getcwd())
    failure = run_cells(shell, cells)
    OUTPUTS.current = None
    facts = failure or finish(shell.user_ns, model_dir, root, options)
    status = "error" if "kind" in facts else "ok"
    write_report(status=status, shell_failures=shell.shell_failures, **facts)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(3 if status == "error" else 0)  # as a kernel shutting down: no wait for threads the notebook left
