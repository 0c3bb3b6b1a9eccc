"""The model folder's signature: checked before anything of it is unpickled, in every loader.

The build signs every file of OUT/model in the OpenSSF model-signing format (a Sigstore bundle,
OUT/model/model.sig; builder/signing.py), so the `model_signing` CLI anyone has verifies it as
this does. NBS2I_VERIFY_KEY_FILE (a PEM public key) or NBS2I_VERIFY_CHAIN_FILE (the PEM
certificates a signing certificate must chain to) makes a missing, swapped or broken
signature, or any file changed, added or removed since the build, a ModelLoadError that names
the file. The model-signing package is in OUT/venv when the build signed.
"""
from __future__ import annotations

import re
from pathlib import Path

from .contract import SIGNATURE_FILE
from .errors import ModelLoadError


def verify(model_dir: Path, public_key: Path | None = None, chain: Path | None = None) -> None:
    """Raise ModelLoadError unless model_dir is signed by public_key's pair (or a certificate of chain)."""
    if public_key is None and chain is None:
        return
    signature = Path(model_dir) / SIGNATURE_FILE
    asked = "NBS2I_VERIFY_KEY_FILE" if public_key is not None else "NBS2I_VERIFY_CHAIN_FILE"
    if not signature.is_file():
        raise ModelLoadError(f"{model_dir}: {asked} is set but the model is unsigned (no {SIGNATURE_FILE}). Build it "
                             "with NBS2I_SIGNING_KEY_FILE set (docs/deploy.md, Signed models), or unset the variable to "
                             "serve unsigned models.")
    try:
        from model_signing import hashing, verifying
    except ImportError:
        raise ModelLoadError(f"{model_dir}: {asked} is set, but this environment has no model-signing package to verify "
                             "the signature with (the build installs it into OUT/venv when it signs). Rebuild with "
                             "NBS2I_SIGNING_KEY_FILE set, or `pip install model-signing pyopenssl` here.") from None
    config = verifying.Config().set_hashing_config(hashing_config(hashing))
    if public_key is not None:
        config = config.use_elliptic_key_verifier(public_key=public_key)
    else:
        config = config.use_certificate_verifier(certificate_chain=[chain])
    try:
        config.verify(model_dir, signature)
    except Exception as exc:  # model_signing says why in its message; ours names the files
        raise ModelLoadError(f"{model_dir}: the signature does not verify: {_why(str(exc))} Nothing was loaded. Serve "
                             "the model as it was built and signed, or build and sign it again.") from None


def hashing_config(hashing):
    """What the signature covers: every file of the folder but the signature itself (as the CLI sees it)."""
    return hashing.Config().set_ignored_paths(paths=[Path(SIGNATURE_FILE)], ignore_git_paths=True)


def _why(message: str) -> str:
    """model_signing's reason, with the files it names said plainly."""
    changed = re.findall(r"Hash mismatch for \\?'([^'\\]+)\\?'", message)  # quoted inside a list's repr, or not
    added = re.search(r"Extra files found in model \\?'[^'\\]*\\?': ([^\"'\]\\]+)", message)
    missing = re.search(r"Missing files in model \\?'[^'\\]*\\?': ([^\"'\]\\]+)", message)
    found = ([f"{name} changed since it was signed" for name in changed]
             + ([f"{added.group(1)} added since it was signed"] if added else [])
             + ([f"{missing.group(1)} missing since it was signed"] if missing else []))
    if found:
        return "; ".join(found) + "."
    return f"it was not made by the key or certificate given ({message.strip()[:300]})."
