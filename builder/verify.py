"""`nbs2i verify OUT [--key public.pem]`: is OUT what the build made, and what it says it holds?

Four checks, each a line: the signature over every file of OUT/model (with a key or a chain;
else said to be unchecked); the artifact's and the profile's sha256 against metadata.json; the
provenance statement's subjects against the files (and its DSSE signature, with a key); and
OUT/venv against its bill of materials: a distribution added, removed or changed (its version,
or its installed files) since the build is named. Exit 0 when all hold, 3 when one does not.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from nbs2i_service import contract, signature
from nbs2i_service.errors import REFUSED, ModelLoadError

from . import provenance, sbom, venv


def run(out: Path, key: Path | None, chain: Path | None) -> int:
    out = Path(out).resolve()
    model_dir = out / contract.MODEL_DIR
    results = [_signature(model_dir, key, chain)]
    for check in (lambda: _checksums(model_dir), lambda: _provenance(model_dir, key), lambda: _environment(out)):
        try:
            results.append(check())
        except (OSError, ValueError, KeyError, TypeError) as exc:  # a file missing or no longer what the build wrote
            results.append((False, f"{exc.__class__.__name__}: {exc}"))
    for ok, line in results:
        print(f"{'ok' if ok else 'FAILED'}  {line}")
    return 0 if all(ok for ok, _ in results) else REFUSED


def _signature(model_dir: Path, key: Path | None, chain: Path | None) -> tuple[bool, str]:
    if key is None and chain is None:
        signed = (model_dir / contract.SIGNATURE_FILE).is_file()
        return True, ("signature: not checked: give the public key (--key, or NBS2I_VERIFY_KEY_FILE)" if signed
                      else "signature: none (the build had no NBS2I_SIGNING_KEY_FILE)")
    try:
        signature.verify(model_dir, key, chain)
    except ModelLoadError as exc:
        return False, f"signature: {exc}"
    return True, f"signature: every file of {model_dir.name}/ is as it was signed"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _checksums(model_dir: Path) -> tuple[bool, str]:
    meta = json.loads((model_dir / contract.METADATA_FILE).read_text())
    wanted = {contract.ARTIFACT_FILE: meta.get(contract.META_ARTIFACT_SHA256)}
    reference = meta.get(contract.META_REFERENCE)
    if isinstance(reference, dict):
        wanted[reference["file"]] = reference.get("sha256")
    changed = [name for name, digest in wanted.items() if not (model_dir / name).is_file()
               or _sha256(model_dir / name) != digest]
    if changed:
        return False, f"checksums: {', '.join(changed)} changed since the build (metadata.json records otherwise)"
    return True, f"checksums: {', '.join(wanted)} as metadata.json records them"


def _provenance(model_dir: Path, key: Path | None) -> tuple[bool, str]:
    path = model_dir / contract.PROVENANCE_FILE
    if not path.is_file():
        return False, f"provenance: {contract.PROVENANCE_FILE} is missing"
    try:
        statement = provenance.opened(json.loads(path.read_text()), key)
    except (ValueError, KeyError) as exc:
        return False, f"provenance: {exc}"
    changed = [s["name"] for s in statement["subject"] if not (model_dir / s["name"]).is_file()
               or _sha256(model_dir / s["name"]) != s["digest"]["sha256"]]
    if changed:
        return False, f"provenance: {', '.join(changed)} differ from the statement's subjects"
    signed = " and signed by the key" if key is not None and "payload" in json.loads(path.read_text()) else ""
    return True, f"provenance: its {len(statement['subject'])} subjects are the files{signed}"


def _environment(out: Path) -> tuple[bool, str]:
    listed = sbom.listed(json.loads((out / contract.MODEL_DIR / contract.SBOM_SERVED_FILE).read_text()))
    found = {d["name"].lower(): (d["version"], d["record_sha256"]) for d in venv.distributions(out / contract.VENV_DIR)[1]}
    added = sorted(f"{name} {found[name][0]}" for name in found.keys() - listed.keys())
    removed = sorted(f"{name} {listed[name][0]}" for name in listed.keys() - found.keys())
    changed = sorted(f"{name} {listed[name][0]} -> {found[name][0]}" if listed[name][0] != found[name][0]
                     else f"{name} {found[name][0]} (its installed files)"
                     for name in listed.keys() & found.keys() if listed[name] != found[name])
    problems = ([f"added: {', '.join(added)}"] if added else []) + ([f"removed: {', '.join(removed)}"] if removed else []) \
        + ([f"changed: {', '.join(changed)}"] if changed else [])
    if problems:
        return False, f"environment: OUT/venv is not what its bill of materials lists; {'; '.join(problems)}"
    return True, f"environment: OUT/venv holds exactly the {len(listed)} distributions its bill of materials lists"

