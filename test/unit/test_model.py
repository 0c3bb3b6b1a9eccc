"""Loading a model: sha256 and HMAC checked before anything is unpickled."""
from __future__ import annotations

import json
import logging

import pytest

from nbs2i_service import contract
from nbs2i_service.errors import ModelLoadError
from nbs2i_service.model import BatchFailed, BatchRejected, Model, SampleRejected, load_model
from test.unit.service_fixtures import write_model_dir


def test_loads_a_good_model_from_out_or_model_dir(tmp_path):
    write_model_dir(tmp_path / "model")
    assert load_model(tmp_path).predict({"x": 1}) == 2
    assert load_model(tmp_path / "model").name == "plus1"


def test_tampered_artifact_is_refused_before_unpickling(tmp_path):
    model_dir = write_model_dir(tmp_path / "model")
    # A pickle that would run code if it were ever loaded: it must never be.
    marker = tmp_path / "pwned"
    evil = b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR."
    (model_dir / contract.ARTIFACT_FILE).write_bytes(evil)
    with pytest.raises(ModelLoadError, match="the artifact's sha256 is .* but metadata.json records"):
        load_model(tmp_path)
    assert not marker.exists()


def _keys(folder, name="key"):
    """An ECDSA P-256 key pair as PEM files (what `openssl ecparam -name prime256v1` makes)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private, public = folder / f"{name}.pem", folder / f"{name}.pub.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def _signed(tmp_path):
    from nbs2i import signing
    from nbs2i_service.config import load_config

    write_model_dir(tmp_path / "model")
    private, public = _keys(tmp_path)
    signing.sign(tmp_path / "model", load_config({"NBS2I_SIGNING_KEY_FILE": str(private)}))
    return public


def test_a_signed_model_loads_with_its_public_key_and_is_refused_with_another(tmp_path):
    public = _signed(tmp_path)
    assert load_model(tmp_path, public).predict({"x": 0}) == 1
    assert load_model(tmp_path).predict({"x": 0}) == 1  # no key at serve time: hash check only
    _, other = _keys(tmp_path, "other")
    with pytest.raises(ModelLoadError, match="the signature does not verify: it was not made by the key"):
        load_model(tmp_path, other)


@pytest.mark.parametrize("change, named", [
    (lambda d: (d / "metadata.json").write_text((d / "metadata.json").read_text() + " "), "metadata.json changed"),
    (lambda d: (d / "extra.txt").write_text("x"), "extra.txt added"),
    (lambda d: (d / "model.pkl").unlink(), "model.pkl missing"),
])
def test_a_changed_signed_model_is_refused_before_anything_is_unpickled(tmp_path, change, named):
    public = _signed(tmp_path)
    change(tmp_path / "model")
    with pytest.raises(ModelLoadError) as err:
        load_model(tmp_path, public)
    assert f"the signature does not verify: {named} since it was signed. Nothing was loaded." in str(err.value)


def test_an_unsigned_model_is_refused_when_a_key_is_set(tmp_path):
    write_model_dir(tmp_path / "model")
    _, public = _keys(tmp_path)
    with pytest.raises(ModelLoadError, match="NBS2I_VERIFY_KEY_FILE is set but the model is unsigned"):
        load_model(tmp_path, public)
    with pytest.raises(ModelLoadError, match="the HMAC key it once took is retired"):
        load_model(tmp_path, b"k1")


def test_missing_metadata_says_to_build(tmp_path):
    with pytest.raises(ModelLoadError, match="metadata.json is missing. Build the model first"):
        load_model(tmp_path)


def test_other_python_is_refused(tmp_path):
    model_dir = write_model_dir(tmp_path / "model")
    meta = json.loads((model_dir / contract.METADATA_FILE).read_text())
    meta[contract.META_PYTHON] = "2.7.18"
    (model_dir / contract.METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="built with Python 2.7.18"):
        load_model(tmp_path)


def test_schema_fast_path_agrees_with_jsonschema():
    from nbs2i_service.model import Model, SampleRejected

    schema = {"type": "object", "properties": {"x": {"type": "number", "minimum": 0}}, "required": ["x"]}
    model = Model({"predictor": lambda s: s["x"]}, {"input_schema": schema})
    assert model._schema.fast is not None  # draft-07 by default: compiled
    assert model.predict({"x": 3}) == 3
    for sample, message in (({"x": -1}, "input_schema: -1 is less than the minimum of 0 at $.x"),
                            ({}, "input_schema: 'x' is a required property at $"),
                            ([1], "input_schema: [1] is not of type 'object' at $")):
        with pytest.raises(SampleRejected) as err:
            model.predict(sample)
        assert err.value.message == message


def test_declared_2020_12_schema_uses_jsonschema():
    from nbs2i_service.model import Model, SampleRejected

    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "array",
              "prefixItems": [{"type": "number"}, {"type": "string"}]}
    model = Model({"predictor": lambda s: s[1]}, {"input_schema": schema})
    assert model._schema.fast is None
    assert model.predict([1, "a"]) == "a"
    with pytest.raises(SampleRejected, match="'b' is not of type 'number' at \\$\\[0\\]"):
        model.predict(["b", "a"])


def _rewrite_artifact(model_dir, data: bytes, **meta_changes):
    """Replace the artifact with data and record its sha256, as a build would have."""
    from nbs2i_service import artifact

    meta = json.loads((model_dir / contract.METADATA_FILE).read_text())
    meta[contract.META_ARTIFACT_SHA256] = artifact.sha256_hex(data)
    meta.update(meta_changes)
    (model_dir / contract.ARTIFACT_FILE).write_bytes(data)
    (model_dir / contract.METADATA_FILE).write_text(json.dumps({k: v for k, v in meta.items() if v is not None}))


def test_load_errors_word_for_word(tmp_path):
    with pytest.raises(ModelLoadError) as err:
        load_model(tmp_path)
    assert str(err.value) == f"{tmp_path / 'metadata.json'} is missing. Build the model first: nbs2i build SOURCE --out OUT."
    model_dir = write_model_dir(tmp_path / "model")
    (model_dir / contract.ARTIFACT_FILE).unlink()
    with pytest.raises(ModelLoadError) as err:
        load_model(tmp_path)
    assert str(err.value) == f"{model_dir / 'model.pkl'} cannot be read (No such file or directory). Rebuild the model."
    (model_dir / contract.ARTIFACT_FILE).write_bytes(b"changed")
    with pytest.raises(ModelLoadError) as err:
        load_model(tmp_path)
    assert str(err.value).startswith(f"{model_dir / 'model.pkl'}: the artifact's sha256 is ")
    (model_dir / contract.METADATA_FILE).write_text("{not json")
    with pytest.raises(ModelLoadError) as err:
        load_model(model_dir)
    assert str(err.value).startswith(f"{model_dir / 'metadata.json'} cannot be read (")
    assert str(err.value).endswith("). Rebuild the model.")


def test_other_python_and_unpicklable_artifacts_word_for_word(tmp_path):
    import sys

    model_dir = write_model_dir(tmp_path / "model")
    artifact_path = model_dir / contract.ARTIFACT_FILE
    _rewrite_artifact(model_dir, artifact_path.read_bytes(), python_version="3.1.4")
    running = "%d.%d" % sys.version_info[:2]
    with pytest.raises(ModelLoadError) as err:
        load_model(tmp_path)
    assert str(err.value) == (f"{artifact_path} was built with Python 3.1.4 but this is Python {running}. "
                              "Serve it from the venv the build made (OUT/venv).")
    _rewrite_artifact(model_dir, b"cno_such_module_here\nthing\n.", python_version=None)  # names a module that is not installed
    with pytest.raises(ModelLoadError) as err:
        load_model(tmp_path)
    assert str(err.value) == (f"{artifact_path} cannot be unpickled (ModuleNotFoundError: No module named "
                              "'no_such_module_here'). A package the model needs may be missing from the venv; "
                              "add it to requirements.")


def test_metadata_without_a_python_version_loads_and_the_folder_is_kept(tmp_path):
    model_dir = write_model_dir(tmp_path / "model")
    _rewrite_artifact(model_dir, (model_dir / contract.ARTIFACT_FILE).read_bytes(), python_version=None)
    model = load_model(tmp_path)
    assert model.directory == model_dir and model.predict({"x": 1}) == 2
    assert Model({"predictor": len}, {}).directory is None


def test_the_derived_schema_is_asked_for_not_given(tmp_path):
    model_dir = write_model_dir(tmp_path / "model")
    _rewrite_artifact(model_dir, (model_dir / contract.ARTIFACT_FILE).read_bytes(), example={"x": 1})
    with pytest.raises(TypeError):  # no schema: the predictor meets the sample (and raises)
        load_model(tmp_path).predict({"x": "word"})
    derived = load_model(tmp_path, infer_schema=True)
    assert derived._schema.validator is None and derived._schema.fast is not None  # no jsonschema until a rejection
    with pytest.raises(SampleRejected) as err:
        derived.predict({"x": "word"})
    assert err.value.message == "the shape of the notebook's example: 'word' is not of type 'number' at $.x"


def test_a_model_with_no_name_is_model_and_its_batch_predictor_is_kept():
    batch = lambda samples: [-1] * len(samples)
    m = Model({"predictor": len, "batch_predictor": batch}, {})
    assert (m.name, m.batch_predictor, m.validator) == ("model", batch, None)
    assert m.predict_batch([[1], [2, 3]]) == [-1, -1]
    assert Model({"predictor": len}, {}).predict_batch([[1], [2, 3]]) == [1, 2]


def test_a_batch_predictor_of_the_wrong_length_falls_back_and_says_why(caplog, monkeypatch):
    from nbs2i_service import model as model_module
    from nbs2i_service.logs import EveryMinute

    # a fresh once-a-minute log: another test's fallback in the same minute would hold this line back
    monkeypatch.setattr(model_module, "_FALLBACK_LOG", EveryMinute(logging.getLogger("nbs2i")))
    m = Model({"predictor": len, "batch_predictor": lambda samples: [0]}, {})
    counted = []
    with caplog.at_level(logging.ERROR, logger="nbs2i"):
        assert m.predict_batch([[1], [2, 3]], counted.append) == [1, 2]
    assert counted == [2]
    assert "ValueError: batch_predictor returned 1 predictions for 2 samples; return one per sample, in order" in \
        caplog.text


def test_a_failing_batch_predictor_is_logged_once_a_minute(caplog):
    from nbs2i_service import model as model_module
    from nbs2i_service.logs import EveryMinute

    now = [0.0]
    log = EveryMinute(logging.getLogger("nbs2i"), clock=lambda: now[0])
    m = Model({"predictor": len, "batch_predictor": lambda samples: 1 / 0}, {})
    counted = []
    with caplog.at_level(logging.ERROR, logger="nbs2i"):
        model_module._FALLBACK_LOG, saved = log, model_module._FALLBACK_LOG
        try:
            for second in (0, 10, 59, 61):
                now[0] = second
                assert m.score([[1], [2, 3]], counted.append) == [1, 2]
        finally:
            model_module._FALLBACK_LOG = saved
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and counted == [2, 2, 2, 2]
    assert lines[0].startswith("batch_predictor failed on a batch of 2 samples; they were scored one by one with "
                               "predictor:\nTraceback (most recent call last):")
    assert lines[0].rstrip().endswith("ZeroDivisionError: division by zero")
    assert "(2 more like it since the last such line)" in lines[1]


def test_one_rule_for_failing_samples_in_a_batch():
    def one(sample):
        if sample == "bad":
            raise KeyError(sample)
        return sample.upper()

    m = Model({"predictor": one, "batch_predictor": lambda samples: [s.upper() for s in samples if s != "bad"]}, {})
    with pytest.raises(BatchFailed) as err:
        m.predict_batch(["a", "bad", "c", "bad"])
    assert [i for i, _ in err.value.failed] == [1, 3] and err.value.total == 4
    assert all(isinstance(e, KeyError) for _, e in err.value.failed)


def test_batch_rejections_list_every_sample():
    m = Model({"predictor": len, "validator": lambda s: s != []}, {})
    with pytest.raises(BatchRejected) as err:
        m.predict_batch([[1], [], [2], []])
    assert str(err.value) == "2 sample(s) rejected"
    assert err.value.rejected == [{"index": 1, "message": "rejected by validator (it returned False)", "path": None},
                                  {"index": 3, "message": "rejected by validator (it returned False)", "path": None}]


def test_score_uses_the_batch_predictor_and_falls_back_one_by_one():
    calls = []

    def batch(samples):
        calls.append(list(samples))
        if any(s == "bad" for s in samples):
            raise ValueError("bad in batch")
        return [f"b:{s}" for s in samples] if len(samples) > 1 else []  # one sample: wrong length

    def one(sample):
        if sample == "bad":
            raise KeyError(sample)
        return f"1:{sample}"

    m = Model({"predictor": one, "batch_predictor": batch}, {})
    counted = []
    assert m.score(["a", "b"], counted.append) == ["b:a", "b:b"]
    assert m.score(["c"], counted.append) == ["1:c"]  # one sample: predictor alone
    results = m.score(["d", "bad"], counted.append)
    assert results[0] == "1:d" and isinstance(results[1], KeyError)
    assert m.score([]) == [] and calls == [["a", "b"], ["d", "bad"]]  # an empty batch is never sent
    assert counted == [2]
    assert Model({"predictor": one}, {}).score(["e"]) == ["1:e"]


def test_a_valid_sample_is_shown_whole_up_to_300_characters():
    import datetime

    from nbs2i_service.model import _valid_sample

    assert _valid_sample({"example": {"when": datetime.date(2020, 1, 2), "xs": [1, 2]}}) == (
        'A valid sample looks like the notebook\'s example: {"when": "2020-01-02", "xs": [1, 2]}.')
    exactly = "a" * 298  # with its quotes: 300 characters
    assert _valid_sample({"example": exactly}).endswith(f'"{exactly}".')
    longer = "a" * 299
    assert _valid_sample({"example": longer}).endswith('"' + "a" * 296 + "....")
    assert _valid_sample({"input_schema": {"type": "array"}}) == (
        'A valid sample matches the notebook\'s input_schema: {"type": "array"}.')
    assert _valid_sample({}) == ""


def test_a_nested_rejection_names_its_whole_path():
    schema = {"type": "object", "properties": {"rows": {"type": "array", "items": {
        "type": "object", "properties": {"v": {"type": "number"}}}}}}
    with pytest.raises(SampleRejected) as err:
        Model({"predictor": len}, {"input_schema": schema}).predict({"rows": [{"v": 1}, {"v": "x"}]})
    assert (err.value.message, err.value.path) == ("input_schema: 'x' is not of type 'number' at $.rows[1].v", "$.rows[1].v")
