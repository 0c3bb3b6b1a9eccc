"""Version specifiers across every mention of a package: merged, checked, and relaxed on request.

All mentions of one package (PEP 503 normalised name, same environment marker) become one
requirement whose specifier set is their intersection, extras joined. Only an intersection
that is provably empty (`==1` and `==2`, `==2` and `<2`, `>=3` and `<2`) is an error, and it
names both places. Anything subtler is the installer's to judge.
"""
from __future__ import annotations

from dataclasses import dataclass

from packaging.requirements import Requirement as Pep508
from packaging.specifiers import Specifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from .errors import RequirementsError
from .requirements import Requirement


@dataclass(frozen=True)
class Relaxed:
    name: str
    pinned: str     # the pin as declared, e.g. ==1.15
    relaxed: str    # what was installed instead, e.g. >=1.15
    origin: str


def merge(found: list[Requirement]) -> list[Requirement]:
    """One requirement per package and marker, in order of first mention."""
    groups: dict[tuple[str, str], list[Requirement]] = {}
    passthrough: list[Requirement] = []
    for req in found:
        if req.url:
            passthrough.append(req)  # -e, VCS and URL requirements go to the installer as written
            continue
        groups.setdefault((req.name, str(Pep508(req.text).marker or "")), []).append(req)
    merged = [_merge_group(group) for group in groups.values()]
    named = {r.name for r in passthrough}
    return [r for r in merged if r.name not in named] + _unique(passthrough)


def _merge_group(group: list[Requirement]) -> Requirement:
    parsed = [Pep508(r.text) for r in group]
    for i, (a, req_a) in enumerate(zip(parsed, group)):
        for b, req_b in zip(parsed[i + 1:], group[i + 1:]):
            if _disjoint(a.specifier, b.specifier):
                raise RequirementsError(
                    f"{req_a.name} is required as {req_a.text!r} ({req_a.origin}) and as {req_b.text!r} "
                    f"({req_b.origin}); no version satisfies both. Keep one of them, or make them agree.")
    if len(group) == 1:
        return group[0]
    spec = SpecifierSet()
    extras: set[str] = set()
    for p in parsed:
        spec &= p.specifier
        extras |= p.extras
    first = parsed[0]
    text = first.name + (f"[{','.join(sorted(extras))}]" if extras else "") + str(_simplify(spec))
    if first.marker:
        text += f"; {first.marker}"
    origins = list(dict.fromkeys(r.origin for r in group))
    return Requirement(str(Pep508(text)), group[0].name, "; ".join(origins))


def _simplify(spec: SpecifierSet) -> SpecifierSet:
    """Drop repeats: `==1.2` mentioned twice is one specifier."""
    return SpecifierSet(",".join(sorted({str(s) for s in spec})))


def _pin(spec: Specifier) -> Version | None:
    if spec.operator in ("==", "===") and not spec.version.endswith(".*"):
        try:
            return Version(spec.version)
        except InvalidVersion:
            return None
    return None


def _bounds(spec: Specifier) -> tuple[list, list]:
    """The lower and upper bounds [(version, inclusive)] one specifier sets; a series (`~=1.4.0`,
    `==1.3.*`) is the range it stands for: [1.4.0, 1.5.dev0) and [1.3.dev0, 1.4.dev0)."""
    op, text = spec.operator, spec.version
    try:
        if op in (">", ">="):
            return [(Version(text), op == ">=")], []
        if op in ("<", "<="):
            return [], [(Version(text), op == "<=")]
        if op == "~=" or (op == "==" and text.endswith(".*")):
            base = Version(text.removesuffix(".*"))
            release = base.release[:-1] if op == "~=" else base.release
            following = ".".join(map(str, release[:-1] + (release[-1] + 1,)))
            start = base if op == "~=" else Version(f"{text.removesuffix('.*')}.dev0")
            return [(start, True)], [(Version(f"{following}.dev0"), False)]
    except InvalidVersion:
        pass
    return [], []


def _disjoint(a: SpecifierSet, b: SpecifierSet) -> bool:
    """True only when no version can satisfy both: a pin outside the other, or crossed bounds
    (a series, `~=V` or `==V.*`, counted as the range it stands for)."""
    for one, other in ((a, b), (b, a)):
        for spec in one:
            version = _pin(spec)
            if version is not None and not other.contains(version, prereleases=True):
                return True
    lower, upper = [], []
    for spec in list(a) + list(b):
        low, high = _bounds(spec)
        lower += low
        upper += high
    if lower and upper:
        (low, low_in), (high, high_in) = max(lower), min(upper)
        return low > high or (low == high and not (low_in and high_in))
    return False


def _unique(found: list[Requirement]) -> list[Requirement]:
    return list({r.text: r for r in found}.values())


def pinned_floor(spec: Specifier) -> str | None:
    """The version a pin holds the package at, as a lower bound: `==V`, `===V`, the series
    pins `==V.*` and `~=V` (a 2021 `numpy~=1.19.5` is as old as `numpy==1.19.5`); else None."""
    if spec.operator not in ("==", "===", "~="):
        return None
    version = spec.version.removesuffix(".*")
    try:
        Version(version)
    except InvalidVersion:
        return None
    return version


def has_pin(text: str) -> bool:
    return any(pinned_floor(s) is not None for s in Pep508(text).specifier)


def relax(found: list[Requirement]) -> tuple[list[Requirement], list[Relaxed]]:
    """NBS2I_RELAX_PINS: every pin (`==V`, `==V.*`, `~=V`) becomes the lower bound `>=V`."""
    out, relaxed = [], []
    for req in found:
        if req.url:
            out.append(req)
            continue
        parsed = Pep508(req.text)
        pins = [s for s in parsed.specifier if pinned_floor(s) is not None]
        if not pins:
            out.append(req)
            continue
        kept = [str(s) for s in parsed.specifier if pinned_floor(s) is None]
        lowered = [f">={pinned_floor(s)}" for s in pins]
        parsed.specifier = SpecifierSet(",".join(kept + lowered))
        out.append(Requirement(str(parsed), req.name, req.origin))
        relaxed.append(Relaxed(req.name, ",".join(str(s) for s in pins), ",".join(lowered), req.origin))
    return out, relaxed
