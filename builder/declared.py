"""Pass 1, whole: every requirement a build installs, from every place it may be declared.

The notebook (its `requirements` literal and install lines), then (unless
NBS2I_REPOSITORY_REQUIREMENTS=0) the repository's files beside the notebook, else at
SOURCE's root: requirements.txt (pip's format), or a lock file that pins everything, or
Pipfile / pyproject.toml / environment.yml dependencies. All mentions of a package merge
into one (specifiers.py). A notebook that declares nothing gets requirements inferred from
its imports (imports.py).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from . import imports, meaning, projectfiles, reqfile, specifiers
from .errors import RequirementsError
from .requirements import Requirement, from_notebook, make
from .source import Source

# pip options on an install line that take a value (so the value is not a package)
_PIP_OPTIONS_WITH_VALUE = {
    "-i", "--index-url", "--extra-index-url", "-f", "--find-links", "-t", "--target", "--prefix", "--root",
    "--python", "--trusted-host", "--cache-dir", "--no-binary", "--only-binary", "--upgrade-strategy",
    "-c", "--channel", "--override",
}


@dataclass
class Declared:
    requirements: list[Requirement]
    indexes: reqfile.Indexes = field(default_factory=reqfile.Indexes)
    inferred: list[str] = field(default_factory=list)   # names inferred from imports, when nothing was declared
    locked_by: str | None = None                        # the lock file that pinned everything, if any
    files: list[str] = field(default_factory=list)      # the repository's files read (requirements.txt ...)


def collect(source: Source, nb: nbformat.NotebookNode, repository_files: bool = True) -> Declared:
    """All requirements of the notebook at source, merged, in declaration order.

    repository_files=False (NBS2I_REPOSITORY_REQUIREMENTS=0): the notebook's own declarations
    only, for a repository whose files list what every one of its notebooks needs."""
    found: list[Requirement] = []
    files = reqfile.ReqFile()
    for entry in from_notebook(nb, source.notebook):
        found += [entry] if isinstance(entry, Requirement) else _from_pip_args(entry[1], entry[0], source.directory, files)
    folder = next((d for d in (source.directory, source.root) if projectfiles.any_in(d)), None)
    if folder and not repository_files:
        print(f"---> NBS2I_REPOSITORY_REQUIREMENTS=0: {', '.join(n for n in projectfiles.FILES if (folder / n).is_file())} "
              f"in {folder} not read; the notebook's own requirements only", file=sys.stderr, flush=True)
        folder = None
    try:
        project = projectfiles.read(folder) if folder else projectfiles.Project()
        if project.requirements_txt:
            reqfile.read(project.requirements_txt, files)
    except RequirementsError as exc:
        if not found:
            raise
        raise RequirementsError(f"{exc}\n  {source.notebook.name} declares its own requirements: to build with those "
                                "alone, not the repository's files, set NBS2I_REPOSITORY_REQUIREMENTS=0 "
                                "(--notebook-requirements-only).") from None
    found += files.requirements + project.requirements
    named = {r.name for r in found}
    found += [c for c in files.constraints if c.name in named]  # `-c` narrows what is asked for, as in pip
    declared = Declared([], files.indexes, locked_by=project.locked_by, files=project.read)
    if project.locked_by:
        found = _check_against_lock(found, project.requirements, project.locked_by)
    if not found:
        declared.inferred = imports.infer(nb, source)
        found = [make(name, f"{source.notebook.name} (inferred from its imports)") for name in declared.inferred]
    declared.requirements = specifiers.merge(meaning.interpret(found))
    return declared


def _from_pip_args(args: list[str], origin: str, base: Path, files: reqfile.ReqFile) -> list[Requirement]:
    """The packages of one `pip install` line, as pip reads its arguments (paths from the notebook's folder)."""
    found, skip = [], False
    for i, arg in enumerate(args):
        if skip:
            skip = False
        elif arg in ("-r", "--requirement"):
            if i + 1 < len(args):
                reqfile.read(base / args[i + 1], files)
            skip = True
        elif arg in ("-e", "--editable"):
            if i + 1 < len(args):
                found.append(reqfile.requirement(f"-e {args[i + 1]}", origin, base))
            skip = True
        elif arg.startswith(("--editable=", "-e=")):
            found.append(reqfile.requirement(f"-e {arg.split('=', 1)[1]}", origin, base))
        elif arg in _PIP_OPTIONS_WITH_VALUE:
            skip = True
        elif not arg.startswith("-"):
            found.append(reqfile.requirement(arg, origin, base))
    return found


def _check_against_lock(found: list[Requirement], locked: list[Requirement], lock: str) -> list[Requirement]:
    """A lock file decides every version; the notebook's own mentions must agree with it."""
    pins = {r.name: r for r in locked}
    for req in found:
        pin = pins.get(req.name)
        if req.url or pin is None or req is pin:
            continue
        try:
            specifiers.merge([pin, req])
        except RequirementsError:
            raise RequirementsError(
                f"{req.origin} asks for {req.text!r}, but {lock} pins {pin.text!r}. Make them agree: change the "
                f"notebook's requirement, or update the lock file (and commit it).") from None
    extra = [r for r in found if r.name not in pins and r not in locked]
    if extra:
        print(f"---> note: not in {lock}, installed as declared: " + ", ".join(r.text for r in extra),
              file=sys.stderr)
    return locked + extra
