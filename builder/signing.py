"""Signing OUT/model, every file of it, in the OpenSSF model-signing format (a Sigstore bundle at
OUT/model/model.sig), so that `model_signing verify key OUT/model --signature OUT/model/model.sig
--public_key public.pem`, or `... verify certificate` with the chain, checks it as the service
does (nbs2i_service/signature.py). NBS2I_SIGNING_KEY_FILE is the private key (ECDSA P-256 or
stronger); with NBS2I_SIGNING_CERTIFICATE_FILE (and its NBS2I_SIGNING_CHAIN_FILE) the
signature carries that certificate, all offline. Sigstore's keyless signing, for a CI with an
OIDC identity, is `model_signing sign sigstore OUT/model` after the build (docs/deploy.md).
"""
from __future__ import annotations

import sys
from pathlib import Path

from nbs2i_service.config import Config
from nbs2i_service.contract import SIGNATURE_FILE

from .errors import BuildError

# What the served environment needs to verify a signature when it loads the model.
VERIFYING_REQUIREMENTS = ("model-signing>=1.1", "pyopenssl")


def signing(config: Config) -> bool:
    return config.signing_key_file is not None


def check_key(config: Config) -> None:
    """Before anything is built: the key is one model-signing signs with (an elliptic curve of 256 bits or more)."""
    if config.signing_key_file is None:
        return
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    password = config.signing_key_password.encode() if config.signing_key_password else None
    try:
        key = serialization.load_pem_private_key(config.signing_key_file.read_bytes(), password)
    except (ValueError, TypeError) as exc:
        raise BuildError(f"NBS2I_SIGNING_KEY_FILE={config.signing_key_file} is not a private key nbs2i can read "
                         f"({exc}); give its password in NBS2I_SIGNING_KEY_PASSWORD if it has one.") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.key_size < 256:
        raise BuildError(f"NBS2I_SIGNING_KEY_FILE={config.signing_key_file} is not an elliptic-curve key of 256 bits or "
                         "more, which model-signing signs with. Make one: openssl ecparam -name prime256v1 -genkey "
                         "-noout -out private.pem && openssl ec -in private.pem -pubout -out public.pem")
    if config.signing_certificate_file is None:
        return
    from cryptography import x509

    certificate = x509.load_pem_x509_certificate(config.signing_certificate_file.read_bytes())
    if certificate.public_key() != key.public_key():
        raise BuildError(f"NBS2I_SIGNING_CERTIFICATE_FILE={config.signing_certificate_file} is not the certificate of "
                         f"NBS2I_SIGNING_KEY_FILE={config.signing_key_file}: their public keys differ.")
    if config.signing_chain_file is None:  # model-signing puts the issuers in the signature; it needs at least one
        raise BuildError("NBS2I_SIGNING_CERTIFICATE_FILE needs NBS2I_SIGNING_CHAIN_FILE: the PEM certificates of its "
                         "issuers (intermediates and root), which the signature carries for verifiers.")


def sign(model_dir: Path, config: Config) -> Path:
    """Sign every file of model_dir (the last step of a build: nothing may change it afterwards)."""
    from model_signing import hashing
    from model_signing import signing as ms
    from nbs2i_service.signature import hashing_config

    target = model_dir / SIGNATURE_FILE
    password = config.signing_key_password
    if config.signing_certificate_file is not None:
        settings = ms.Config().use_certificate_signer(private_key=config.signing_key_file,
                                                      signing_certificate=config.signing_certificate_file,
                                                      certificate_chain=[config.signing_chain_file])
    else:
        settings = ms.Config().use_elliptic_key_signer(private_key=config.signing_key_file, password=password)
    settings.set_hashing_config(hashing_config(hashing)).sign(model_dir, target)
    how = "its certificate" if config.signing_certificate_file else "the key"
    print(f"---> Signed every file of {model_dir.name}/ with {how} of NBS2I_SIGNING_KEY_FILE ({target.name}, "
          "model-signing's format)", file=sys.stderr, flush=True)
    return target
