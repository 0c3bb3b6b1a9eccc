"""Signed models, bills of materials and provenance, checked with the tools others check them with:
the real `model_signing` CLI, cyclonedx-python-lib's JSON schema validator, in-toto's protobuf
Statement, and every loader of nbs2i (serve, score, load_model) refusing what does not verify."""
from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test.helpers import CACHE, Service, build_env, build_ok, nbs2i, request, served_distributions, write_notebook

pytestmark = pytest.mark.slow

CELLS = ["requirements = []",
         "train = [{'x': float(i % 50), 'colour': 'red' if i % 3 else 'blue'} for i in range(300)]\n"
         "offset = sum(row['x'] for row in train) / len(train)\nreference_data = train",
         "def predictor(sample):\n    return sample['x'] - offset",
         "example = {'x': 30.0, 'colour': 'red'}"]
MODEL_SIGNING = str(Path(sys.executable).parent / "model_signing")


def _keypair(folder: Path, name: str) -> tuple[Path, Path]:
    """An ECDSA P-256 key pair as PEM files, as `openssl ecparam -name prime256v1 -genkey` makes one."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / f"{name}.pem", folder / f"{name}.pub.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    """One signed build of a notebook in a git checkout; its key pair; the notebook."""
    root = tmp_path_factory.mktemp("signed")
    private, public = _keypair(root, "signing")
    notebook = write_notebook(root / "src", *CELLS)
    git = ["git", "-C", str(root / "src"), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "remote", "add", "origin", "https://example.com/team/model.git"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "model"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    out = root / "out"
    log = build_ok(root / "src", out, NBS2I_SIGNING_KEY_FILE=str(private), NBS2I_MODEL_NAME="signed-model")
    return {"out": out, "private": private, "public": public, "notebook": notebook, "commit": commit, "log": log,
            "root": root}


@pytest.fixture
def copy(signed, tmp_path):
    """A copy of the signed OUT to change (OUT is relocatable)."""
    out = tmp_path / "out"
    shutil.copytree(signed["out"], out, symlinks=True)
    return out


def _model_signing(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([MODEL_SIGNING, *args], capture_output=True, text=True, timeout=300)


def _refused_by_serve(out: Path, **env: str) -> str:
    svc = Service(out, workers=1, **env)
    try:
        code = svc.proc.wait(timeout=120)
    finally:
        svc.log.close()
    log = svc.log_path.read_text()
    assert code == 3, log  # docs/api.md: a refused model exits 3
    return log


def _refused_by_load_model(out: Path, public: Path) -> str:
    code = ("import sys\nfrom nbs2i_service import load_model\nfrom nbs2i_service.errors import ModelLoadError\n"
            "try:\n    load_model(sys.argv[1], verify_key=sys.argv[2])\nexcept ModelLoadError as exc:\n"
            "    print(exc); sys.exit(3)\n")
    result = subprocess.run([str(out / "venv/bin/python"), "-c", code, str(out / "model"), str(public)],
                            capture_output=True, text=True, cwd="/")
    assert result.returncode == 3, result.stdout + result.stderr
    return result.stdout


def test_a_signed_build_verifies_with_the_model_signing_cli_and_nbs2i_verify(signed):
    out, public = signed["out"], signed["public"]
    assert "Signed every file of model/" in signed["log"]
    result = _model_signing("verify", "key", str(out / "model"), "--signature", str(out / "model" / "model.sig"),
                            "--public_key", str(public))
    assert result.returncode == 0, result.stdout + result.stderr
    result = nbs2i("verify", str(out), "--key", str(public))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["ok"] * 4, result.stdout
    assert "every file of model/ is as it was signed" in lines[0] and "signed by the key" in lines[2]
    # The key pair's verify key, given to the service, lets it serve
    with Service(out, workers=1, NBS2I_VERIFY_KEY_FILE=str(public)) as svc:
        assert request(svc.url + "/predict", {"x": 30.0, "colour": "red"})[2] == {"prediction": pytest.approx(5.5)}
    # and without a key, nbs2i verify says the signature is left unchecked
    unchecked = nbs2i("verify", str(out))
    assert unchecked.returncode == 0 and "signature: not checked" in unchecked.stdout


@pytest.mark.parametrize("name", ["model.pkl", "metadata.json", "reference.json"])
def test_a_changed_file_is_refused_by_serve_score_and_load_model_naming_it(signed, copy, name, tmp_path):
    path = copy / "model" / name
    if name == "model.pkl":
        path.write_bytes(path.read_bytes() + b"\x00")
    else:  # a JSON file changed as a person would: one value edited
        document = json.loads(path.read_text())
        document["edited"] = True
        path.write_text(json.dumps(document))
    public = str(signed["public"])
    said = f"{name} changed since it was signed"
    log = _refused_by_serve(copy, NBS2I_VERIFY_KEY_FILE=public)
    assert said in log and "refusing to start" in log, log
    assert said in _refused_by_load_model(copy, signed["public"])
    samples = tmp_path / "in.jsonl"
    samples.write_text('{"x": 1.0, "colour": "red"}\n')
    scored = nbs2i("score", str(copy), "--input", str(samples), "--output", "-",
                   env=build_env(NBS2I_VERIFY_KEY_FILE=public))
    assert scored.returncode == 3 and said in scored.stderr, scored.stderr
    # the real CLI agrees
    assert _model_signing("verify", "key", str(copy / "model"), "--signature", str(copy / "model" / "model.sig"),
                          "--public_key", public).returncode != 0
    result = nbs2i("verify", str(copy), "--key", public)
    assert result.returncode == 3 and said in result.stdout, result.stdout


def test_a_file_added_to_the_model_is_refused(signed, copy):
    (copy / "model" / "extra.py").write_text("print('hello')\n")
    log = _refused_by_serve(copy, NBS2I_VERIFY_KEY_FILE=str(signed["public"]))
    assert "extra.py added since it was signed" in log, log


def test_a_swapped_signature_is_refused(signed, copy, tmp_path):
    """The signature of the same files by another key, put in place of the build's."""
    from nbs2i_service.config import Config

    from builder import signing

    other, _ = _keypair(tmp_path, "other")
    resigned = tmp_path / "resigned"
    shutil.copytree(copy / "model", resigned)
    signing.sign(resigned, Config(signing_key_file=other))
    shutil.copy(resigned / "model.sig", copy / "model" / "model.sig")
    log = _refused_by_serve(copy, NBS2I_VERIFY_KEY_FILE=str(signed["public"]))
    assert "the signature does not verify" in log and "not made by the key" in log, log
    assert "not made by the key" in _refused_by_load_model(copy, signed["public"])
    assert nbs2i("verify", str(copy), "--key", str(signed["public"])).returncode == 3


def test_an_unsigned_model_is_refused(signed, copy):
    (copy / "model" / "model.sig").unlink()
    log = _refused_by_serve(copy, NBS2I_VERIFY_KEY_FILE=str(signed["public"]))
    assert "the model is unsigned (no model.sig)" in log, log
    assert "unsigned" in _refused_by_load_model(copy, signed["public"])


def test_certificate_signing_verifies_with_the_model_signing_cli(signed, tmp_path):
    """NBS2I_SIGNING_CERTIFICATE_FILE: the same signer the build runs, with a certificate issued by a
    CA of our own, offline; `model_signing verify certificate` checks it against the CA."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    from nbs2i_service.config import Config

    from builder import signing

    now = dt.datetime.now(dt.timezone.utc)
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nbs2i test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "model builder")]))
            .issuer_name(ca_name).public_key(leaf_key.public_key()).serial_number(2)
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(pem))
    (tmp_path / "leaf.key").write_bytes(leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                               serialization.NoEncryption()))
    model = tmp_path / "model"
    shutil.copytree(signed["out"] / "model", model)
    config = Config(signing_key_file=tmp_path / "leaf.key", signing_certificate_file=tmp_path / "leaf.pem",
                    signing_chain_file=tmp_path / "ca.pem")
    signing.check_key(config)
    signing.sign(model, config)
    result = _model_signing("verify", "certificate", str(model), "--signature", str(model / "model.sig"),
                            "--certificate_chain", str(tmp_path / "ca.pem"))
    assert result.returncode == 0, result.stdout + result.stderr
    from nbs2i_service import signature
    from nbs2i_service.errors import ModelLoadError

    signature.verify(model, chain=tmp_path / "ca.pem")
    (model / "metadata.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="metadata.json changed since it was signed"):
        signature.verify(model, chain=tmp_path / "ca.pem")


def test_the_bills_of_materials_validate_and_list_exactly_their_environments(signed):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    out = signed["out"]
    meta = json.loads((out / "model" / "metadata.json").read_text())
    validator = JsonStrictValidator(SchemaVersion.V1_6)
    boms = {}
    for name in ("sbom-served.cdx.json", "sbom-build.cdx.json"):
        text = (out / "model" / name).read_text()
        error = validator.validate_str(text)
        assert error is None, f"{name}: {error}"
        boms[name] = json.loads(text)
    served = {c["name"].lower(): c["version"] for c in boms["sbom-served.cdx.json"]["components"]}
    assert set(served) == served_distributions(out)  # exactly OUT/venv, as its own Python sees it
    assert {n.lower() for n in served} >= {"flask", "gunicorn", "cloudpickle", "model-signing"}
    build = {c["name"].lower(): c["version"] for c in boms["sbom-build.cdx.json"]["components"]}
    assert build == {p.split("==")[0].lower(): p.split("==")[1] for p in meta["build_packages"]}
    assert "ipython" in build and "ipython" not in served  # the notebook tooling stays in the build
    for component in boms["sbom-served.cdx.json"]["components"]:
        assert component["purl"].startswith("pkg:pypi/") and len(component["hashes"][0]["content"]) == 64
    flask = next(c for c in boms["sbom-served.cdx.json"]["components"] if c["name"].lower() == "flask")
    assert flask["purl"] == f"pkg:pypi/flask@{served['flask']}" and flask["licenses"]  # Flask declares BSD-3-Clause


def test_the_provenance_statement_parses_as_in_toto_and_names_the_source(signed):
    from google.protobuf import json_format
    from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.statement import Statement

    out = signed["out"]
    envelope = json.loads((out / "model" / "provenance.intoto.json").read_text())
    assert envelope["payloadType"] == "application/vnd.in-toto+json" and envelope["signatures"]
    found = json.loads(base64.b64decode(envelope["payload"]))
    statement = Statement.copy_from_pb(json_format.ParseDict(found, statement_pb2.Statement()))
    statement.validate()
    assert statement.pb.predicate_type == "https://slsa.dev/provenance/v1"
    predicate = json_format.ParseDict(found["predicate"], provenance_pb2.Provenance())  # SLSA's fields, no others
    dependencies = {d.name or d.uri: d for d in predicate.build_definition.resolved_dependencies}
    notebook_sha = hashlib.sha256(signed["notebook"].read_bytes()).hexdigest()
    assert dependencies["model.ipynb"].digest["sha256"] == notebook_sha
    repository = dependencies[f"git+https://example.com/team/model.git@{signed['commit']}"]
    assert repository.digest["gitCommit"] == signed["commit"]
    settings = json_format.MessageToDict(predicate.build_definition.external_parameters)["settings"]
    assert settings["NBS2I_MODEL_NAME"] == "signed-model"  # a setting that changed the result
    assert not any("SIGNING" in name for name in settings)  # where the key is, is not a parameter
    subjects = {s["name"]: s["digest"]["sha256"] for s in found["subject"]}
    assert {"model.pkl", "metadata.json", "reference.json", "sbom-served.cdx.json", "sbom-build.cdx.json"} <= set(subjects)
    for name, digest in subjects.items():
        assert hashlib.sha256((out / "model" / name).read_bytes()).hexdigest() == digest, name


def test_a_package_installed_after_the_build_is_reported_by_nbs2i_verify(signed, copy):
    python = str(copy / "venv" / "bin" / "python")
    uv = str(Path(sys.executable).parent / "uv")
    installed = subprocess.run([uv, "pip", "install", "--quiet", "--python", python, "six==1.16.0"],
                               capture_output=True, text=True, env=build_env(UV_CACHE_DIR=str(CACHE)))
    assert installed.returncode == 0, installed.stderr
    result = nbs2i("verify", str(copy), "--key", str(signed["public"]))
    assert result.returncode == 3, result.stdout
    assert "added: six 1.16.0" in result.stdout, result.stdout
    assert "ok  signature" in result.stdout  # OUT/model itself is untouched
