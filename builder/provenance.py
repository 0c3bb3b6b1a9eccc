"""Where a model came from: an in-toto statement (v1) with a SLSA provenance (v1) predicate.

Its subjects are the files of OUT/model (the artifact, metadata.json, the SBOMs, the profile,
the executed notebook ...), each with its sha256; the build definition names the notebook and
its sha256, the source (git commit and remote when the source is a checkout, or OpenShift's
OPENSHIFT_BUILD_COMMIT / _SOURCE in a BuildConfig) and the NBS2I_* settings that changed the
result; the run details name nbs2i and its version, and the base image when known. With a
signing key it is a DSSE envelope signed by that key (ECDSA over DSSE's pre-authentication
encoding), the form in-toto's and SLSA's verifiers read; without one, the statement alone.
"""
from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from pathlib import Path

from nbs2i_service.config import Config
from nbs2i_service.contract import PROVENANCE_FILE, SIGNATURE_FILE

from . import __version__
from .source import Source

STATEMENT = "https://in-toto.io/Statement/v1"
PREDICATE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://github.com/nbs2i/nbs2i/blob/main/docs/deploy.md#provenance"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
# The settings whose value changes what a build makes (the rest change where, or how fast).
_SETTINGS = {"notebook": "NBS2I_NOTEBOOK", "model_name": "NBS2I_MODEL_NAME", "python": "NBS2I_PYTHON",
             "index_url": "PIP_INDEX_URL", "extra_index_urls": "PIP_EXTRA_INDEX_URL", "find_links": "PIP_FIND_LINKS",
             "relax_pins": "NBS2I_RELAX_PINS", "as_of": "NBS2I_AS_OF", "repository_requirements":
             "NBS2I_REPOSITORY_REQUIREMENTS", "minimal_env": "NBS2I_MINIMAL_ENV", "serve_requirements":
             "NBS2I_SERVE_REQUIREMENTS", "reference": "NBS2I_REFERENCE", "installer": "NBS2I_INSTALLER"}


def _git(folder: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def source_of(src: Source, config: Config) -> list[dict]:
    """The resolved dependencies naming the source: the repository at its commit, and the notebook."""
    notebook = {"name": src.notebook.name, "digest": {"sha256": hashlib.sha256(src.notebook.read_bytes()).hexdigest()}}
    commit = _git(src.notebook.parent, "rev-parse", "HEAD") or config.build_commit
    remote = _git(src.notebook.parent, "remote", "get-url", "origin") or config.build_source
    if not commit:
        return [notebook]
    repository = {"uri": f"git+{remote}@{commit}" if remote else f"git+commit:{commit}", "digest": {"gitCommit": commit}}
    dirty = _git(src.notebook.parent, "status", "--porcelain")
    if dirty:
        repository["annotations"] = {"uncommittedChanges": True}
    return [repository, notebook]


def parameters(config: Config) -> dict:
    """The NBS2I_* (and PIP_*) settings of this build that differ from the defaults."""
    default = Config()
    found = {}
    for field, variable in _SETTINGS.items():
        value = getattr(config, field)
        if value != getattr(default, field):
            found[variable] = " ".join(value) if isinstance(value, tuple) else str(value)
    return found


def statement(model_dir: Path, src: Source, config: Config, meta: dict) -> dict:
    subjects = [{"name": p.name, "digest": {"sha256": hashlib.sha256(p.read_bytes()).hexdigest()}}
                for p in sorted(model_dir.iterdir()) if p.is_file() and p.name not in (SIGNATURE_FILE, PROVENANCE_FILE)]
    builder = {"id": f"https://github.com/nbs2i/nbs2i@{__version__}", "version": {"nbs2i": __version__}}
    if config.base_image:
        builder["builderDependencies"] = [{"uri": f"docker://{config.base_image}"}]
    return {"_type": STATEMENT, "subject": subjects, "predicateType": PREDICATE, "predicate": {
        "buildDefinition": {"buildType": BUILD_TYPE,
                            "externalParameters": {"notebook": src.notebook.name, "settings": parameters(config)},
                            "internalParameters": {"python": meta.get("python_version"),
                                                   "installer": meta.get("installer")},
                            "resolvedDependencies": source_of(src, config)},
        "runDetails": {"builder": builder, "metadata": {"invocationId": meta["build_id"],
                                                        "startedOn": meta["built_at"]}}}}


def _pae(payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding of an in-toto payload: what the signature covers."""
    kind = PAYLOAD_TYPE.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def envelope(found: dict, private_key: Path, password: str | None = None) -> dict:
    """The statement as a DSSE envelope signed by private_key (an elliptic-curve PEM key)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = serialization.load_pem_private_key(private_key.read_bytes(), password.encode() if password else None)
    payload = json.dumps(found, separators=(",", ":"), sort_keys=True).encode()
    signature = key.sign(_pae(payload), ec.ECDSA(hashes.SHA256()))
    return {"payloadType": PAYLOAD_TYPE, "payload": base64.b64encode(payload).decode(),
            "signatures": [{"keyid": keyid(key.public_key()), "sig": base64.b64encode(signature).decode()}]}


def keyid(public_key) -> str:
    from cryptography.hazmat.primitives import serialization

    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def opened(envelope_or_statement: dict, public_key: Path | None) -> dict:
    """The statement of a provenance file; with a public key, only once its DSSE signature verifies."""
    if "payload" not in envelope_or_statement:
        if public_key is not None:
            raise ValueError("the provenance statement is not signed")
        return envelope_or_statement
    payload = base64.b64decode(envelope_or_statement["payload"])
    if public_key is not None:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        key = serialization.load_pem_public_key(public_key.read_bytes())
        signatures = [base64.b64decode(s["sig"]) for s in envelope_or_statement.get("signatures", [])]
        for signature in signatures:
            try:
                key.verify(signature, _pae(payload), ec.ECDSA(hashes.SHA256()))
                break
            except InvalidSignature:
                continue
        else:
            raise ValueError("the provenance's signature was not made by this key")
    return json.loads(payload)

