"""The notebook's code cells, as IPython reads them, checked for syntax before anything runs.

IPython's own input transformer (the one a kernel uses) turns magics, shell escapes and
help lines into Python and dedents an indented cell; pass 1 reads that Python statically.
Cell numbers are 1-based positions in the notebook, counting markdown cells too, so they
match what the user sees when scrolling the notebook.
"""
from __future__ import annotations

import ast
import functools
import json
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
from IPython.core.inputtransformer2 import TransformerManager

from .errors import NotebookError

EXCERPT_LINES = 6  # long cells are cut to their first and last lines, as nbclient does
# The names notebooks give the usual imports: a NameError for one of them says which import is missing.
CONVENTIONAL = {"np": "import numpy as np", "pd": "import pandas as pd", "plt": "import matplotlib.pyplot as plt",
                "sns": "import seaborn as sns", "mpl": "import matplotlib as mpl", "tf": "import tensorflow as tf",
                "sm": "import statsmodels.api as sm", "px": "import plotly.express as px",
                "go": "import plotly.graph_objects as go"}


@dataclass
class Cell:
    index: int                 # 1-based position in the notebook
    source: str                # what the user wrote
    python: str                # what IPython makes of it (`!cmd` -> get_ipython().system('cmd') ...)


def transform(source: str) -> str:
    """IPython's transformation of one cell; source that it cannot read is left to the syntax check."""
    try:
        return TransformerManager().transform_cell(source)
    except (SyntaxError, ValueError):
        return source


def code_cells(nb: nbformat.NotebookNode) -> list[Cell]:
    return [Cell(position, cell.source, transform(cell.source))
            for position, cell in enumerate(nb.cells, start=1) if cell.cell_type == "code"]


def excerpt(source: str, max_lines: int = EXCERPT_LINES) -> str:
    """The cell's source, cut to its first and last lines when long, indented for a message."""
    lines = source.strip("\n").split("\n")
    if len(lines) > max_lines:
        head, tail = lines[: max_lines - 2], lines[-1:]
        lines = head + [f"... ({len(lines) - len(head) - len(tail)} more lines)"] + tail
    return "\n".join("    " + line for line in lines)


def parse(cell: Cell, notebook: Path, ran_on: str = "") -> ast.Module:
    """Parse a transformed cell; a syntax error is reported like a failing cell."""
    try:
        return ast.parse(cell.python, filename=f"<cell {cell.index}>")
    except SyntaxError as exc:
        raise _syntax_error(cell, notebook, exc, f"Python {platform.python_version()}", ran_on) from None


def static_tree(cell: Cell) -> ast.Module | None:
    """The cell as nbs2i's own Python reads it, for pass 1's static reading; None (and a note) when
    only the build's newer Python can (check_syntax has accepted it there)."""
    return _static_tree(cell.index, cell.python)


@functools.lru_cache(maxsize=1024)
def _static_tree(index: int, python: str) -> ast.Module | None:
    try:
        return ast.parse(python, filename=f"<cell {index}>")
    except SyntaxError:
        print(f"---> note: cell {index} is written for a newer Python than nbs2i's own "
              f"({platform.python_version()}): its requirements and imports are not read before the run",
              file=sys.stderr, flush=True)
        return None


def _syntax_error(cell: Cell, notebook: Path, exc: SyntaxError, parsed_by: str, ran_on: str) -> NotebookError:
    pointer = ""
    if exc.text is not None and exc.offset:
        pointer = f"\n    {exc.text.rstrip()}\n    {' ' * (exc.offset - 1)}^"
    older = ""
    if ran_on and parsed_by.removeprefix("Python ").split(".")[:2] != ran_on.split(".")[:2]:
        older = (f"\n  {parsed_by} read it (the build's Python); the notebook last ran on Python {ran_on} (its "
                 "metadata says so), whose syntax may differ: build with that Python (NBS2I_PYTHON=python"
                 f"{'.'.join(ran_on.split('.')[:2])}), or fix the cell.")
    return NotebookError(
        f"{notebook.name}: cell {cell.index} has a syntax error at line {exc.lineno}: {exc.msg}{pointer}\n"
        f"  The cell begins:\n{excerpt(cell.source)}{older}\n"
        f"  Fix the cell (it must run in a fresh kernel, top to bottom) and rebuild.")


def check_syntax(cells: list[Cell], notebook: Path, python: str | None = None, ran_on: str = "") -> None:
    """Every cell must parse, as the build's Python parses it: this process's, or `python` (NBS2I_PYTHON)
    in a process of its own. ran_on: the Python the notebook last ran on (its metadata), named in the error."""
    if python is None:
        for cell in cells:
            parse(cell, notebook, ran_on)
        return
    code = ("import ast, json, sys\n"
            "for index, source in json.load(sys.stdin):\n"
            "    try:\n        ast.parse(source, filename=f'<cell {index}>')\n"
            "    except SyntaxError as exc:\n"
            "        print(json.dumps([index, exc.msg, exc.lineno, exc.offset, exc.text, sys.version.split()[0]]))\n"
            "        break\n")
    out = subprocess.run([python, "-c", code], input=json.dumps([[c.index, c.python] for c in cells]),
                         capture_output=True, text=True, cwd="/")
    if out.returncode != 0:
        raise NotebookError(f"{python} could not check {notebook.name}'s syntax: {out.stderr.strip()[-300:]}")
    if out.stdout.strip():
        index, msg, lineno, offset, text, version = json.loads(out.stdout)
        cell = next(c for c in cells if c.index == index)
        raise _syntax_error(cell, notebook, SyntaxError(msg, (f"<cell {index}>", lineno, offset, text)),
                            f"Python {version}", ran_on)


def binding(cells: list[Cell], name: str) -> tuple[Cell, str] | None:
    """The first cell that binds name at its top level (import, assignment, def, class, for or with
    target: what a later cell could use), and the first line of that statement."""
    for cell in cells:
        try:
            tree = ast.parse(cell.python)
        except SyntaxError:
            continue
        for node in _top_level(tree.body):
            if name in _bound(node):
                return cell, cell.python.splitlines()[node.lineno - 1].strip()
    return None


def _top_level(body: list[ast.stmt]):
    """Statements run at the cell's top level, into if/for/while/with/try blocks, not into functions or classes."""
    for node in body:
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for field in ("body", "orelse", "finalbody"):
                yield from _top_level(getattr(node, field, []) or [])
            for handler in getattr(node, "handlers", []) or []:
                yield from _top_level(handler.body)


def _bound(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    targets = {ast.Assign: lambda n: n.targets, ast.AnnAssign: lambda n: [n.target], ast.AugAssign: lambda n: [n.target],
               ast.For: lambda n: [n.target], ast.AsyncFor: lambda n: [n.target],
               ast.With: lambda n: [i.optional_vars for i in n.items if i.optional_vars is not None]}
    found = targets.get(type(node))
    return {n.id for t in (found(node) if found else []) for n in ast.walk(t) if isinstance(n, ast.Name)}
