"""Signatures, bills of materials and provenance on a small model folder: the real model-signing
package signs and verifies; the files are made here."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from builder import provenance, sbom, signing
from builder.errors import BuildError
from nbs2i_service import signature
from nbs2i_service.config import Config
from nbs2i_service.errors import ModelLoadError


def _pair(folder: Path, name: str, curve=ec.SECP256R1) -> tuple[Path, Path]:
    key = ec.generate_private_key(curve())
    private, public = folder / f"{name}.pem", folder / f"{name}.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


@pytest.fixture
def model(tmp_path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(b"not really a pickle")
    (folder / "metadata.json").write_text('{"model_name": "m"}')
    return folder


def test_a_signed_folder_verifies_and_each_change_is_named(model, tmp_path):
    private, public = _pair(tmp_path, "k")
    signing.sign(model, Config(signing_key_file=private))
    signature.verify(model, public)
    signature.verify(model)  # no key: nothing is checked
    (model / "model.pkl").write_bytes(b"changed")
    with pytest.raises(ModelLoadError, match=r"model\.pkl changed since it was signed\. Nothing was loaded"):
        signature.verify(model, public)
    (model / "model.pkl").write_bytes(b"not really a pickle")
    (model / "extra.txt").write_text("x")
    with pytest.raises(ModelLoadError, match=r"extra\.txt added since it was signed"):
        signature.verify(model, public)
    (model / "extra.txt").unlink()
    (model / "metadata.json").unlink()
    with pytest.raises(ModelLoadError, match=r"metadata\.json missing since it was signed"):
        signature.verify(model, public)


def test_another_keys_signature_and_no_signature_are_refused(model, tmp_path):
    private, public = _pair(tmp_path, "k")
    other, _ = _pair(tmp_path, "other")
    with pytest.raises(ModelLoadError, match=r"NBS2I_VERIFY_KEY_FILE is set but the model is unsigned \(no model\.sig\)"):
        signature.verify(model, public)
    signing.sign(model, Config(signing_key_file=other))
    with pytest.raises(ModelLoadError, match="not made by the key or certificate given"):
        signature.verify(model, public)


def test_the_key_is_checked_before_the_build(tmp_path):
    signing.check_key(Config())  # no key: nothing to check
    private, _ = _pair(tmp_path, "k")
    signing.check_key(Config(signing_key_file=private))
    small, _ = _pair(tmp_path, "small", ec.SECP192R1)
    with pytest.raises(BuildError, match="not an elliptic-curve key of 256 bits or more"):
        signing.check_key(Config(signing_key_file=small))
    (tmp_path / "bad.pem").write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(BuildError, match="is not a private key nbs2i can read"):
        signing.check_key(Config(signing_key_file=tmp_path / "bad.pem"))


def test_a_signed_provenance_opens_only_with_its_key(tmp_path):
    private, public = _pair(tmp_path, "k")
    _, other = _pair(tmp_path, "other")
    statement = {"_type": provenance.STATEMENT, "subject": [{"name": "model.pkl", "digest": {"sha256": "ab"}}]}
    envelope = provenance.envelope(statement, private)
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert json.loads(base64.b64decode(envelope["payload"])) == statement
    assert provenance.opened(envelope, public) == statement
    assert provenance.opened(envelope, None) == statement
    with pytest.raises(ValueError, match="not made by this key"):
        provenance.opened(envelope, other)
    tampered = dict(envelope, payload=base64.b64encode(json.dumps(dict(statement, subject=[])).encode()).decode())
    with pytest.raises(ValueError, match="not made by this key"):
        provenance.opened(tampered, public)
    with pytest.raises(ValueError, match="is not signed"):
        provenance.opened(statement, public)
    assert provenance.opened(statement, None) == statement


def test_the_settings_named_are_those_that_differ_from_the_defaults():
    assert provenance.parameters(Config()) == {}
    found = provenance.parameters(Config(model_name="m", serve_requirements=("a", "b"), signing_key_file=Path("k")))
    assert found == {"NBS2I_MODEL_NAME": "m", "NBS2I_SERVE_REQUIREMENTS": "a b"}


def test_a_bill_of_materials_lists_each_distribution_with_its_purl_licence_and_hash():
    dists = [{"name": "Foo_Bar", "version": "1.0+local", "expression": "MIT", "license": "", "classifiers": [],
              "record_sha256": "1" * 64},
             {"name": "baz", "version": "2", "expression": "", "license": "", "classifiers": ["BSD License"],
              "record_sha256": "2" * 64},
             {"name": "qux", "version": "3", "expression": "", "license": "", "classifiers": [],
              "record_sha256": "3" * 64}]
    bom = sbom.document(dists, "served", "m", "build-1", "3.11.7")
    foo, baz, qux = bom["components"]
    assert foo["purl"] == "pkg:pypi/foo-bar@1.0%2Blocal" and foo["licenses"] == [{"expression": "MIT"}]
    assert baz["licenses"] == [{"license": {"name": "BSD License"}}] and "licenses" not in qux
    assert bom["dependencies"] == [{"ref": "model", "dependsOn": [foo["purl"], baz["purl"], qux["purl"]]}]
    assert sbom.listed(bom) == {"foo_bar": ("1.0+local", "1" * 64), "baz": ("2", "2" * 64), "qux": ("3", "3" * 64)}
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(bom)) is None
