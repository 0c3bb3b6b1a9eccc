"""IPython syntax -> plain Python, cell by cell, keeping line numbers where they were.

Both passes use it: pass 1 reads `pip install` lines as requirements, pass 2 runs the
translated cells. The helpers the translation calls (_nbs2i_shell ...) live in runner.py.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from .errors import NotebookError

# Cell magics whose body is for display only in Jupyter: nothing to run in a build.
_DISPLAY_CELL_MAGICS = {"html", "markdown", "latex", "javascript", "js", "svg", "md"}
_SHELL_CELL_MAGICS = {"bash", "sh", "script"}
_BODY_CELL_MAGICS = {"time", "timeit", "capture", "prun"}
# Line magics that only change Jupyter's display or session: dropped without a word.
_QUIET_LINE_MAGICS = {
    "matplotlib", "load_ext", "reload_ext", "autoreload", "config", "precision", "who", "whos",
    "history", "pylab", "notebook", "pprint", "xmode", "lsmagic", "magic", "colors", "aimport",
}
_PIP = re.compile(r"^(?:pip3?|python3?\s+-m\s+pip|conda|mamba|uv\s+pip)\s+(\S+)\s*(.*)$")
_ASSIGN_SHELL = re.compile(r"^([A-Za-z_][\w, ]*)=\s*!(.*)$")
_HELP = re.compile(r"^(\?{1,2}[\w.]+|[\w.]+\?{1,2})$")  # obj? and ?obj ask Jupyter for help


@dataclass
class PipLine:
    line: int          # 1-based line in the cell
    command: str       # install, uninstall, ...
    args: list[str]


@dataclass
class Translated:
    source: str
    pip: list[PipLine] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def translate(source: str, cell: int) -> Translated:
    """Translate one code cell; `cell` (1-based position in the notebook) goes into messages."""
    lines = source.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        return _cell_magic(lines, first, cell)
    out = Translated("")
    translated = [_line(line, n + 1, cell, out) for n, line in enumerate(lines)]
    out.source = "\n".join(translated)
    return out


def _cell_magic(lines: list[str], first: int, cell: int) -> Translated:
    head = lines[first].strip()[2:]
    name, _, args = head.partition(" ")
    body = "\n".join(lines[first + 1:])
    keep = ["pass"] * first  # blank lines above the magic keep their numbers
    if name in _BODY_CELL_MAGICS:
        inner = translate(body, cell)
        start = "_nbs2i_timer_start()" if name in ("time", "timeit") else "pass"
        stop = "\n_nbs2i_timer_stop()" if name in ("time", "timeit") else ""
        inner.source = "\n".join(keep + [start, inner.source]) + stop
        return inner
    if name in _DISPLAY_CELL_MAGICS:
        return Translated("\n".join(keep + ["pass  # nbs2i: %%" + name + " cell is display only"]))
    if name in _SHELL_CELL_MAGICS:
        return Translated("\n".join(keep + [f"_nbs2i_shell({body!r})"]))
    if name == "writefile":
        parts = shlex.split(args)
        append = "-a" in parts or "--append" in parts
        target = [p for p in parts if not p.startswith("-")]
        if len(target) != 1:
            raise NotebookError(f"Cell {cell}: %%writefile needs one file name, got {args!r}.")
        return Translated("\n".join(keep + [f"_nbs2i_writefile({target[0]!r}, {body + chr(10)!r}, {append})"]))
    raise NotebookError(
        f"Cell {cell} starts with the cell magic %%{name}, which nbs2i cannot run outside Jupyter. "
        "Rewrite the cell in Python (supported: %%time, %%timeit, %%capture, %%bash, %%sh, %%writefile, %%html ...)."
    )


def _line(line: str, number: int, cell: int, out: Translated) -> str:
    stripped = line.lstrip()
    indent = line[: len(line) - len(stripped)]
    if stripped.startswith("!"):
        return indent + _shell(stripped[1:].strip(), number, out, capture=None)
    match = _ASSIGN_SHELL.match(stripped)
    if match:
        return indent + _shell(match.group(2).strip(), number, out, capture=match.group(1).strip())
    if stripped.startswith("%") and not stripped.startswith("%%"):
        return indent + _line_magic(stripped[1:], number, cell, out)
    if _HELP.match(stripped):
        return indent + "pass  # nbs2i: help request dropped"
    return line


def _shell(command: str, number: int, out: Translated, capture: str | None) -> str:
    match = _PIP.match(command)
    if match:
        out.pip.append(PipLine(number, match.group(1), shlex.split(match.group(2))))
        return "pass  # nbs2i: package installs are done by the build, not run here"
    call = f"_nbs2i_shell({command!r}, capture={capture is not None})"
    return f"{capture} = {call}" if capture else call


def _line_magic(text: str, number: int, cell: int, out: Translated) -> str:
    name, _, args = text.partition(" ")
    args = args.strip()
    if name in ("pip", "conda", "mamba"):
        return _shell(f"{name} {args}", number, out, capture=None)
    if name in ("time", "timeit"):
        while args.startswith("-"):  # %timeit -n 10 -r 3 stmt: options, then the statement
            option, _, args = args.partition(" ")
            if option in ("-n", "-r"):
                _, _, args = args.strip().partition(" ")
            args = args.strip()
        return args or "pass"
    if name in ("env", "set_env"):
        return f"_nbs2i_env({args!r})"
    if name == "cd":
        return f"__import__('os').chdir({args!r})"
    if name in ("sx", "system"):
        return _shell(args, number, out, capture=None)
    if name not in _QUIET_LINE_MAGICS:
        out.warnings.append(f"cell {cell} line {number}: %{name} has no meaning outside Jupyter; skipped")
    return f"pass  # nbs2i: %{name} dropped"
