"""requirements.txt as pip reads it (pip's requirements-file format, which uv reads too).

Comments, `\\` continuations, `${VAR}` expansion, `-r`/`-c` includes, index options
(`-i`, `--extra-index-url`, `-f`, `--trusted-host`, `--pre`), per-requirement options
(`--hash`, `--config-settings`), environment markers, and `-e`/VCS/URL/path requirements,
which are passed to the installer as pip would take them.
"""
from __future__ import annotations

import codecs
import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from .errors import RequirementsError
from .requirements import PIP_FORMS, Requirement, make, passthrough

_NAMED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\s*(\[[^]]*\])?\s*@")  # `name @ url`: PEP 508, not a path
_ENV_VAR = re.compile(r"\$\{([A-Z0-9_]+)\}")  # pip expands only this POSIX form
_URL = re.compile(r"^(git|hg|svn|bzr)\+|^[a-z]+://|^file:", re.I)
# Options that shape the whole install, with a value; pip's names and short forms.
_INDEX_OPTIONS = {"-i": "index_url", "--index-url": "index_url", "--extra-index-url": "extra_index_urls",
                  "-f": "find_links", "--find-links": "find_links"}
_IGNORED_WITH_VALUE = {"--trusted-host", "--no-binary", "--only-binary", "--use-feature"}
_IGNORED_FLAGS = {"--pre", "--prefer-binary", "--require-hashes", "--no-index"}
_PER_REQUIREMENT = ("--hash", "--config-settings", "--global-option", "--install-option")


@dataclass
class Indexes:
    """Index options a requirements file sets, and the line that set them."""
    index_url: str | None = None
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    origin: str = ""


@dataclass
class ReqFile:
    requirements: list[Requirement] = field(default_factory=list)
    constraints: list[Requirement] = field(default_factory=list)
    indexes: Indexes = field(default_factory=Indexes)


# Byte-order marks, longest first (UTF-32's begins as UTF-16's does), and the codec each means.
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def read_text(path: Path) -> str:
    """A repository's text file as pip decodes one: by its byte-order mark, else UTF-8.
    `pip freeze > requirements.txt` in Windows PowerShell writes UTF-16 with a mark."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RequirementsError(f"{path} cannot be read ({exc.strerror}).") from None
    codec = next((name for bom, name in _BOMS if data.startswith(bom)), "utf-8")
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        raise RequirementsError(f"{path} is not {codec} text ({exc.reason} at byte {exc.start}). Save it as UTF-8 "
                                "and rebuild.") from None


def read(path: Path, into: ReqFile | None = None, constraint: bool = False) -> ReqFile:
    """Read path (and what it includes) into one ReqFile."""
    into = into if into is not None else ReqFile()
    text = read_text(path)
    for number, line in _logical_lines(text):
        origin = f"{path.name} line {number}"
        line = _ENV_VAR.sub(lambda m: os.environ.get(m.group(1), m.group(0)), line)
        if line.startswith("-") and not line.startswith(("-e", "--editable")):
            _option(line, origin, path.parent, into)
            continue
        req = requirement(line, origin, path.parent)
        (into.constraints if constraint else into.requirements).append(req)
    return into


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, text) of each logical line: continuations joined, comments cut."""
    out, pending, start = [], "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        line = re.sub(r"(^|\s+)#.*$", "", raw)  # a comment starts at line start or after whitespace
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        line, pending = (pending + line).strip(), ""
        if line:
            out.append((start, line))
    if pending.strip():
        out.append((start, pending.strip()))
    return out


def _option(line: str, origin: str, base: Path, into: ReqFile) -> None:
    parts = shlex.split(line)
    name, _, inline = parts[0].partition("=")
    value = inline or (parts[1] if len(parts) > 1 else "")
    if name in ("-r", "--requirement", "-c", "--constraint"):
        target = value if re.match(r"^[a-z]+://", value) else str(base / value)
        if "://" in target:
            raise RequirementsError(f"{origin}: including {value} over the network is not supported; "
                                    "keep the file in the repository.")
        read(Path(target), into, constraint=name in ("-c", "--constraint"))
    elif name in _INDEX_OPTIONS:
        attr = _INDEX_OPTIONS[name]
        if attr == "index_url":
            into.indexes.index_url = value
        else:
            getattr(into.indexes, attr).append(value if "://" in value else str(base / value))
        into.indexes.origin = into.indexes.origin or origin
    elif name not in _IGNORED_WITH_VALUE | _IGNORED_FLAGS:
        raise RequirementsError(f"{origin}: pip's option {name} is not supported by nbs2i. Remove it, or set it "
                                "in the environment (PIP_* variables) instead.")


def requirement(line: str, origin: str, base: Path) -> Requirement:
    """One requirement, as pip reads it on a line or after `pip install`: PEP 508, or -e/URL/path
    (relative to base), with per-requirement options dropped."""
    editable = line.startswith(("-e ", "--editable"))
    if editable:
        line = re.sub(r"^(-e|--editable)(\s+|=)", "", line)
    for option in _PER_REQUIREMENT:
        line = re.split(rf"\s+{option}(?:[\s=])", line)[0]
    line = line.strip()
    if editable or _URL.match(line) or _is_path(line):
        if not _URL.match(line):
            line = str((base / line).resolve())
        return passthrough(("-e " if editable else "") + line, origin)
    return make(line, origin, PIP_FORMS)


def _is_path(line: str) -> bool:
    """A local project or archive, as pip tells one from a name: `.`, `../lib`, `dist/x.whl`."""
    if line.startswith((".", "/", "~")):
        return True
    return not _NAMED.match(line) and ("/" in line or line.endswith((".whl", ".tar.gz", ".zip")))
