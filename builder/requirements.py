"""Pass 1, the notebook's part: a requirement, and what the notebook itself declares.

Read statically (no notebook code runs): the top-level `requirements` literal and the
`!pip install` / `%pip install` lines, found in IPython's transformation of each cell (so
a `!pip` inside a string is not one). declared.py adds the repository's files and merges.
"""
from __future__ import annotations

import ast
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import nbformat
from packaging.requirements import InvalidRequirement, Requirement as Pep508
from packaging.utils import canonicalize_name
from nbs2i_service.contract import INSTALL_COMMAND

from . import cells as cells_mod
from .errors import RequirementsError

ACCEPTED_FORMS = (
    "Accepted forms:\n"
    '    requirements = [["numpy", "1.26.4"], ["scikit-learn", "1.5.0"]]   # name, version pairs\n'
    '    requirements = ["numpy>=1.26", "scikit-learn"]                     # PEP 508 strings\n'
    '    requirements = [["pandas"]]                                       # name only'
)
# The grammar of each file a requirement may come from, for its error messages.
PIP_FORMS = ("A line of a requirements file is pip's: a PEP 508 requirement (numpy, numpy==1.26.4, numpy>=1.26,<2, "
             "pandas[excel]>=2; markers after ';'), an option (-r other.txt, -c constraints.txt, -i URL, -e PATH), a URL "
             "or a path.")
PEP508_FORMS = "Each entry is a PEP 508 requirement: numpy, numpy==1.26.4, numpy>=1.26,<2, pandas[excel]>=2; markers after ';'."
VARIABLE = "requirements"
# IPython's spelling of `!cmd`, `x = !cmd` and `%magic args` after transformation.
_SHELL_CALLS = {"system", "getoutput"}
_INSTALL_MAGICS = {"pip", "conda", "mamba"}
_BODY_MAGICS = {"capture", "time", "timeit", "bash", "sh", "script"}  # %%capture\n!pip install x


@dataclass(frozen=True)
class Requirement:
    text: str           # normalised PEP 508 text (or an -e/URL/path line), what the installer gets
    name: str           # canonical project name (PEP 503), for merging
    origin: str         # where it was declared, for messages and the build log
    url: bool = False   # -e, VCS, URL or path: passed to the installer as written, never merged


def make(text: str, origin: str, forms: str = ACCEPTED_FORMS) -> Requirement:
    """text as a requirement declared at origin; forms: the grammar of origin, for the error."""
    try:
        parsed = Pep508(text)
    except InvalidRequirement as exc:
        raise RequirementsError(f"{origin}: {text!r} is not a valid requirement ({exc}).\n{forms}") from None
    return Requirement(str(parsed), canonicalize_name(parsed.name), origin, url=bool(parsed.url))


def passthrough(text: str, origin: str) -> Requirement:
    """An -e/VCS/URL/path requirement; its name is its `#egg=` fragment when it has one."""
    egg = re.search(r"[#&]egg=([A-Za-z0-9._-]+)", text)
    return Requirement(text, canonicalize_name(egg.group(1)) if egg else text, origin, url=True)


def install_args(requirements: list[Requirement]) -> list[str]:
    """Installer arguments: `-e PATH` is two of them."""
    args: list[str] = []
    for req in requirements:
        args += ["-e", req.text[3:]] if req.text.startswith("-e ") else [req.text]
    return args


def from_literal(value: object, origin: str, quoted: str) -> list[Requirement]:
    """Turn the evaluated `requirements` literal into Requirements; quoted is its source."""
    if not isinstance(value, (list, tuple)):
        raise RequirementsError(f"{origin}: `requirements = {quoted}` is not a list.\n{ACCEPTED_FORMS}")
    found = []
    for entry in value:
        if isinstance(entry, str):
            found.append(make(entry, origin))
        elif isinstance(entry, (list, tuple)) and len(entry) in (1, 2) and all(isinstance(x, str) and x for x in entry):
            name = entry[0].strip()
            version = entry[1].strip() if len(entry) == 2 else ""
            spec = version if version[:1] in "<>=!~" and version else (f"=={version}" if version else "")
            found.append(make(name + spec, origin))
        else:
            raise RequirementsError(
                f"{origin}: the entry {entry!r} in `requirements` is malformed.\n{ACCEPTED_FORMS}"
            )
    return found


def _from_cell(cell: cells_mod.Cell, notebook: Path) -> list[Requirement]:
    tree = cells_mod.static_tree(cell)
    found = []
    if tree is None:
        return found
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if not any(isinstance(t, ast.Name) and t.id == VARIABLE for t in targets):
            continue
        if node.value is None:
            continue
        quoted = ast.get_source_segment(cell.python, node.value) or ast.unparse(node.value)
        origin = f"{notebook.name} cell {cell.index}"
        if isinstance(node, ast.AugAssign):
            raise RequirementsError(f"{origin}: `requirements += ...` cannot be read without running the notebook; "
                                    f"write one literal list.\n{ACCEPTED_FORMS}")
        try:
            value = ast.literal_eval(node.value)
        except (ValueError, SyntaxError, TypeError):
            raise RequirementsError(
                f"{origin}: `requirements = {quoted}` is not a literal; nbs2i reads it without running "
                f"the notebook, so it must be written out in full.\n{ACCEPTED_FORMS}"
            ) from None
        found += from_literal(value, origin, quoted)
    return found


def install_commands(python: str) -> list[list[str]]:
    """The arguments of every `pip install` a transformed cell would run (pass 1 reads, never runs)."""
    found = []
    for command in _commands(python):
        match = re.match(INSTALL_COMMAND, command.strip())
        if match and match.group(1) == "install":
            try:
                found.append(shlex.split(match.group(2), comments=True))
            except ValueError:
                continue  # unbalanced quotes: IPython would fail on it too
    return found


def _commands(python: str) -> list[str]:
    """Shell command lines in IPython-transformed source: get_ipython().system('cmd') and kin."""
    try:
        tree = ast.parse(python)
    except SyntaxError:
        return []
    commands = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)):
            continue
        args = [a.value for a in node.args]
        method = node.func.attr
        if method in _SHELL_CALLS and args:
            commands.append(args[0])
        elif method == "run_line_magic" and len(args) == 2 and args[0] in _INSTALL_MAGICS:
            commands.append(f"{args[0]} {args[1]}")
        elif method == "run_cell_magic" and len(args) == 3 and args[0] in _BODY_MAGICS:
            body = args[2] if args[0] in ("capture", "time", "timeit") else ""
            commands += _commands(cells_mod.transform(body)) if body else args[2].splitlines()
    return commands


def from_notebook(nb: nbformat.NotebookNode, notebook: Path) -> list[Requirement | tuple[str, list[str]]]:
    """The notebook's own mentions in cell order: `requirements` literals as Requirements, install
    lines as (origin, pip arguments), which declared.py reads as pip would."""
    found: list[Requirement | tuple[str, list[str]]] = []
    for cell in cells_mod.code_cells(nb):
        found += [(f"{notebook.name} cell {cell.index} (pip install)", args) for args in install_commands(cell.python)]
        found += _from_cell(cell, notebook)
    return found
