"""The notebook's code cells, translated to Python once and checked for syntax.

Cell numbers are 1-based positions in the notebook, counting markdown cells too, so they
match what the user sees when scrolling the notebook.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import magics
from .errors import NotebookError

EXCERPT_LINES = 6  # long cells are cut to their first and last lines, as nbclient does


@dataclass
class Cell:
    index: int                 # 1-based position in the notebook
    source: str                # what the user wrote
    python: str                # after magics translation
    pip: list[magics.PipLine] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def code_cells(nb: nbformat.NotebookNode) -> list[Cell]:
    cells = []
    for position, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code":
            continue
        out = magics.translate(cell.source, position)
        cells.append(Cell(position, cell.source, out.source, out.pip, out.warnings))
    return cells


def excerpt(source: str, max_lines: int = EXCERPT_LINES) -> str:
    """The cell's source, cut to its first and last lines when long, indented for a message."""
    lines = source.rstrip("\n").split("\n")
    if len(lines) > max_lines:
        head, tail = lines[: max_lines - 2], lines[-1:]
        lines = head + [f"... ({len(lines) - len(head) - len(tail)} more lines)"] + tail
    return "\n".join("    " + line for line in lines)


def parse(cell: Cell, notebook: Path) -> ast.Module:
    """Parse a translated cell; a syntax error is reported like a failing cell."""
    try:
        return ast.parse(cell.python, filename=f"<cell {cell.index}>")
    except SyntaxError as exc:
        pointer = ""
        if exc.text is not None and exc.offset:
            pointer = f"\n    {exc.text.rstrip()}\n    {' ' * (exc.offset - 1)}^"
        raise NotebookError(
            f"{notebook.name}: cell {cell.index} has a syntax error at line {exc.lineno}: {exc.msg}{pointer}\n"
            f"  The cell begins:\n{excerpt(cell.source)}\n"
            f"  Fix the cell (it must run in a fresh kernel, top to bottom) and rebuild."
        ) from None


def check_syntax(cells: list[Cell], notebook: Path) -> None:
    for cell in cells:
        parse(cell, notebook)
