"""Source selection: which notebook to build, and reading it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nbformat

from .errors import SourceError


@dataclass(frozen=True)
class Source:
    notebook: Path     # absolute path of the notebook
    directory: Path    # the notebook's folder: it runs here, as a kernel started beside it would
    root: Path         # SOURCE: the repository; its modules travel with the model by value

    @property
    def stem(self) -> str:
        return self.notebook.stem


def locate(source: str | Path, notebook: str | None = None) -> Source:
    """SOURCE is a notebook file or a directory; in a directory pick `notebook` or the only *.ipynb."""
    path = Path(source).resolve()
    if path.is_file():
        if notebook:
            raise SourceError(f"{path} is a file; --notebook/NBS2I_NOTEBOOK only applies when SOURCE is a directory.")
        return Source(path, path.parent, path.parent)
    if not path.is_dir():
        raise SourceError(f"{source} does not exist. Pass a directory (a checkout) or a .ipynb file.")
    if notebook:
        chosen = (path / notebook).resolve()
        if not chosen.is_file():
            raise SourceError(
                f"Notebook {notebook} not found in {path}. Found: {', '.join(_candidates(path)) or 'no notebooks'}."
            )
        return Source(chosen, chosen.parent, path)
    found = _candidates(path)
    if len(found) == 1:
        return Source(path / found[0], path, path)
    if not found:
        nested = _nested(path)
        if nested:
            shown = nested[:10]
            extra = f" (and {len(nested) - 10} more)" if len(nested) > 10 else ""
            commands = "\n  ".join(f"nbs2i build {source} --notebook {n}" for n in shown)
            raise SourceError(f"No *.ipynb at the top of {path}, but notebooks one level down{extra}: {', '.join(shown)}. "
                              f"Name one with --notebook (or NBS2I_NOTEBOOK), e.g.:\n  {commands}")
        raise SourceError(f"No *.ipynb in {path}. Add the notebook at the top of the repository, or name it with --notebook.")
    raise SourceError(
        f"{path} holds several notebooks: {', '.join(found)}. "
        "Choose one with --notebook NAME or NBS2I_NOTEBOOK=NAME (e.g. in .s2i/environment)."
    )


def _nested(directory: Path) -> list[str]:
    """Notebooks one folder down (checkpoints and hidden folders left out), as paths from directory."""
    return sorted(str(p.relative_to(directory)) for p in directory.glob("*/*.ipynb")
                  if p.is_file() and not p.parent.name.startswith((".", "_")))


def _candidates(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.glob("*.ipynb") if p.is_file())


def read(source: Source) -> nbformat.NotebookNode:
    """Read and validate the notebook as nbformat v4."""
    try:
        nb = nbformat.read(str(source.notebook), as_version=4)
    except (OSError, ValueError) as exc:
        raise SourceError(f"{source.notebook} is not a readable notebook ({exc}). Save it again from Jupyter.") from None
    language = nb.metadata.get("kernelspec", {}).get("language") or nb.metadata.get("language_info", {}).get("name")
    if language and language.lower() != "python":
        raise SourceError(f"{source.notebook} is a {language} notebook; nbs2i builds Python notebooks only.")
    return nb
