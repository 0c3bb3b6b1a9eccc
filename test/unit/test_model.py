"""Loading a model: sha256 and HMAC checked before anything is unpickled."""
from __future__ import annotations

import json

import pytest

from nbs2i_service import contract
from nbs2i_service.errors import ModelLoadError
from nbs2i_service.model import load_model
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


def test_signed_model_needs_the_right_key(tmp_path):
    write_model_dir(tmp_path / "model", key=b"k1")
    assert load_model(tmp_path, b"k1").predict({"x": 0}) == 1
    assert load_model(tmp_path).predict({"x": 0}) == 1  # no key at serve time: hash check only
    with pytest.raises(ModelLoadError, match="signature does not match NBS2I_SIGNING_KEY"):
        load_model(tmp_path, b"other")


def test_unsigned_model_is_refused_when_a_key_is_set(tmp_path):
    write_model_dir(tmp_path / "model")
    with pytest.raises(ModelLoadError, match="NBS2I_SIGNING_KEY is set but the artifact is unsigned"):
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
