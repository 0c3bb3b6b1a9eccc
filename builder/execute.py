"""Pass 2: run the generated script in the build environment, in the notebook's folder.

The process is started as a Jupyter kernel would be: the environment's bin first on
PATH, matplotlib's inline backend, no terminal and no stdin, a private IPython profile
folder. Its output streams to the build log; its JSON report says which cell failed, or
what the notebook defined. Messages for the user are worded here.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from nbs2i_service import answers

from . import imports, venv
from .cells import CONVENTIONAL, Cell, binding, excerpt
from .errors import ContractError, ExecutionError
from .source import Source

_MARK = "---> cell "


@dataclass
class Report:
    callables: list[str]
    data: dict            # example / input_schema, as JSON values
    outputs: dict         # cell index (str) -> {"outputs": [nbformat outputs], "execution_count", "seconds"}
    shell_failures: list  # {"cell", "command", "exit_code"} of each `!cmd` that exited non-zero
    checked: dict         # the run's answers (example_prediction, batch_checked, nondeterministic) and its
                          # reference profile (reference, or reference_off: why there is none)


def kernel_environment(env_root: Path, report: Path, ipython_dir: Path) -> dict[str, str]:
    """The process environment of the notebook's run, as a kernel in env_root would have it."""
    env = venv.build_process_env(env_root)
    env.update(PATH=f"{env_root / 'bin'}{os.pathsep}{env.get('PATH', os.defpath)}", VIRTUAL_ENV=str(env_root),
               MPLBACKEND="module://matplotlib_inline.backend_inline", IPYTHONDIR=str(ipython_dir),
               NBS2I_REPORT=str(report), PYTHONUNBUFFERED="1")
    return env


def run(script: Path, env_root: Path, source: Source, cells: list[Cell], timeout: float) -> Report:
    """Run script in the environment at env_root; raise ExecutionError/ContractError with the notebook's story."""
    with tempfile.TemporaryDirectory(prefix="nbs2i-run-") as tmp:
        report_path = Path(tmp) / "report.json"
        env = kernel_environment(env_root, report_path, Path(tmp) / "ipython")
        proc = subprocess.Popen([str(env_root / "bin" / "python"), str(script)], cwd=source.directory, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace", start_new_session=True)
        current: list[int] = []
        reader = threading.Thread(target=_relay, args=(proc.stdout, current), daemon=True)
        reader.start()
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the notebook's own children go too
            proc.wait()
            raise ExecutionError(_timeout_message(source, cells, current, timeout)) from None
        finally:
            reader.join(timeout=5)
        facts = json.loads(report_path.read_text()) if report_path.exists() else None
    if facts is None:
        raise ExecutionError(
            f"{source.notebook.name}: the notebook's process ended (exit {code}) before reporting back; "
            "it may have been killed for lack of memory, or called os._exit(). See the log above."
        )
    if facts["status"] != "ok":
        error = _error(facts, source, cells)
        error.facts = facts  # the builder may try again as of the notebook's era (era.py)
        raise error
    checked = {k: facts[k] for k in ("example_prediction", "batch_checked", "nondeterministic", "reference",
                                     "reference_off") if k in facts}
    return Report(facts["callables"], facts["data"], facts["outputs"], facts["shell_failures"], checked)


def _relay(stream, current: list[int]) -> None:
    for line in stream:
        if line.startswith(_MARK):
            current.append(int(line[len(_MARK):]))
        sys.stderr.write(line)
        sys.stderr.flush()


def _timeout_message(source: Source, cells: list[Cell], current: list[int], timeout: float) -> str:
    where = ""
    if current:
        cell = next(c for c in cells if c.index == current[-1])
        where = f" while running cell {cell.index}, which begins:\n{excerpt(cell.source)}\n "
    return (f"{source.notebook.name}: the notebook ran past its time limit of {timeout:g} s{where}"
            " Make the cell faster, or raise the limit with --timeout or NBS2I_TIMEOUT.")


def _error(facts: dict, source: Source, cells: list[Cell]) -> Exception:
    name = source.notebook.name
    kind = facts["kind"]
    if kind == "cell":
        cell = next(c for c in cells if c.index == facts["cell"])
        return ExecutionError(
            f"{name}: cell {cell.index} raised {facts['exception']}\n"
            f"  The cell begins:\n{excerpt(cell.source)}\n"
            f"  The notebook's traceback:\n" + _indent(facts["traceback"]) + _missing(facts, cell)
            + _undefined(facts, cell, cells) + _hosted_data(facts) + _numpy_abi(facts) + _shell_failures(facts) +
            "\n  Fix the cell so the notebook runs top to bottom in a fresh kernel, then rebuild."
        )
    if kind == "no_predictor":
        return ContractError(f"{name} defines no 'predictor'. Define predictor(sample) at top level "
                             "in a code cell; it receives the decoded JSON request body.")
    if kind == "not_callable":
        return ContractError(f"{name}: '{facts['name']}' is a {facts['type']}, not a function. "
                             f"Define {facts['name']} with def at top level.")
    if kind == "not_json":
        return ContractError(f"{name}: '{facts['name']}' cannot be written as JSON ({facts['exception']}). "
                             "Use plain lists, dicts, strings and numbers (no NaN).")
    if kind == "unpicklable":
        return ContractError(
            f"{name}: '{facts['name']}' cannot be serialized with cloudpickle ({facts['exception']}). "
            "It, or an object it uses, holds something that cannot be saved (an open file, lock, "
            "socket or database connection). Create that resource inside the function instead."
        )
    if kind in _ANSWER_FAILURES:
        return ContractError(f"{name}: " + _ANSWER_FAILURES[kind](facts))
    return ExecutionError(f"{name}: the notebook's run reported an unknown failure ({kind!r}): {facts}. "
                          "This is a bug in nbs2i; please report it with the build log.")


def _batch_disagrees(facts: dict) -> str:
    rows = f" and {facts['samples'] - 1} rows of {facts['rows']!r}" if facts.get("rows") else ""
    return (f"batch_predictor and predictor answer differently, so the service's answers would depend on load (it "
            f"gathers concurrent requests into batch_predictor calls). Scored alone and together in the notebook's "
            f"run (the example{rows}), sample {facts['index']} {answers.shown(facts['sample'])} got "
            f"{answers.shown(facts['alone'])} from predictor and {answers.shown(facts['batched'])} from "
            f"batch_predictor (they differ at {facts['where']}; numbers may differ by a relative "
            f"{answers.REL_TOL:g}). Make batch_predictor(samples) return [predictor(s) for s in samples], faster.")


_ANSWER_FAILURES = {
    "example_failed": lambda f: "predictor(example) raised in the notebook's own run, after every cell:\n"
                                + _indent(f["traceback"]) + "\n  Fix predictor or example so the example scores.",
    "example_not_json": lambda f: (f"predictor(example) returned a value that is not JSON ({f['exception']}). "
                                   "Return lists, dicts, strings and numbers (numpy and pandas values are converted)."),
    "batch_failed": lambda f: (f"batch_predictor raised on {f['samples']} sample{'s' if f['samples'] != 1 else ''} "
                               "that predictor answers one by one "
                               "(the example, and rows of the training data shaped like it):\n" + _indent(f["traceback"])
                               + "\n  batch_predictor(samples) takes a list of samples as predictor takes one; fix it "
                                 "or remove it."),
    "batch_count": lambda f: (f"batch_predictor returned {f['answers']} answers for {f['samples']} samples; return one "
                              "per sample, in order."),
    "batch_disagrees": _batch_disagrees,
    "reference_invalid": lambda f: f["message"],
}


def _missing(facts: dict, cell: Cell) -> str:
    """A module no requirement provides: name the package to add; Colab's own are Colab's."""
    colab = re.search(r"\bgoogle\.colab\b|%tensorflow_version\b", cell.source)
    if colab and re.match(r"(ModuleNotFoundError: No module named 'google|UsageError: Line magic)", facts["exception"]):
        return (f"\n  `{colab.group(0)}` exists only inside Google Colab, where the notebook was written; no package "
                "installs it elsewhere, and Jupyter fails here too. Put the data the cell fetches from Drive beside "
                "the notebook, and delete the cell or run it only there: `if 'google.colab' in sys.modules:`.")
    match = re.match(r"ModuleNotFoundError: No module named '([\w.]+)'", facts["exception"])
    parent = facts.get("installed")
    if match and parent and parent.get("distribution"):
        return (f"\n  {parent['distribution']} {parent['version']} is installed and provides '{parent['module']}', but "
                f"not '{match.group(1)}': a release after the one the notebook was written for removed or moved it. "
                f"Change the import to today's name, or pin the {parent['distribution']} the notebook ran with in its "
                "requirements (one too old for this Python: NBS2I_RELAX_PINS=1 takes the nearest release that "
                "installs).")
    return imports.missing_module_hint(match.group(1).split(".")[0]) if match else ""


def _numpy_abi(facts: dict) -> str:
    """A package compiled for NumPy 1.x beside the NumPy 2 that nothing kept numpy from resolving to."""
    printed = "".join(str(o.get("text", "")) for o in facts.get("outputs", {}).get(str(facts["cell"]), {})
                      .get("outputs", []) if o.get("output_type") == "stream")
    # NumPy 2's own words, and what a package compiled against NumPy 1 says when it meets NumPy 2's dtype
    if not any(words in printed + facts["traceback"] for words in ("compiled using NumPy 1.x cannot be run in",
                                                                  "numpy.dtype size changed, may indicate binary")):
        return ""
    return ("\n  A package the cell imports was compiled for NumPy 1.x, and numpy resolved to 2 because no requirement "
            "bounds it (NumPy 2.0, of June 2024, changed what compiled packages link against). Add \"numpy<2\" to the "
            "requirements, or build with NBS2I_RELAX_PINS=1, which takes what the pins leave open as of their day.")


# Where notebook hosts mount data: Kaggle's competition and dataset files, Colab's Google Drive.
_HOSTED = ((re.compile(r"'((?:/kaggle|\.\./input)/[^']*)'"), "Kaggle, which mounts a competition's and a dataset's files "
            "at /kaggle/input"), (re.compile(r"'(/content/[^']*)'"), "Google Colab, whose files and mounted Drive are "
                                  "under /content"))


def _hosted_data(facts: dict) -> str:
    """A file the notebook's host provided: Kaggle's /kaggle/input, Colab's /content."""
    if not re.match(r"(FileNotFoundError|OSError|IOError)\b", facts["exception"]):
        return ""
    for pattern, host in _HOSTED:
        found = pattern.search(facts["exception"])
        if found:
            return (f"\n  '{found.group(1)}' is a path of {host}; nothing provides it elsewhere. Put the file in the "
                    "repository (beside the notebook, say) and read it by a path relative to the notebook's folder.")
    return ""


def _undefined(facts: dict, cell: Cell, cells: list[Cell]) -> str:
    """A NameError in a notebook that ran in Jupyter: usually the cells ran there out of order, and
    the name is bound further down; or the cell that bound it is gone."""
    match = re.match(r"NameError: name '(\w+)' is not defined", facts["exception"])
    if not match:
        return ""
    name = match.group(1)
    later = binding([c for c in cells if c.index > cell.index], name)
    if later and not binding([c for c in cells if c.index < cell.index], name):
        return (f"\n  '{name}' is bound only further down, in cell {later[0].index} (`{later[1]}`): in Jupyter the cells "
                f"ran out of order. Move that line above cell {cell.index}.")
    if name in CONVENTIONAL and not later:
        return (f"\n  No cell binds '{name}', the usual name of `{CONVENTIONAL[name]}`: the kernel the notebook ran in "
                "had it from a cell since edited or deleted. Add the import to an early cell.")
    return ""


def _shell_failures(facts: dict) -> str:
    """Earlier `!cmd` failures: a download that failed is often why a later cell raised."""
    return "".join(f"\n  Earlier, cell {f['cell']}: `{f['command']}` exited with status {f['exit_code']} "
                   "(Jupyter goes on after a failed command, and so does the build)."
                   for f in facts.get("shell_failures", []))


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.rstrip().splitlines())
