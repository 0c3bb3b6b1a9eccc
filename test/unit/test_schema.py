"""The schema derived from `example`, and draft-07 schemas made valid inside OpenAPI."""
from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from nbs2i_service import schema
from nbs2i_service.config import load_config
from nbs2i_service.model import Model, SampleRejected
from nbs2i_service.openapi import build_spec


@pytest.mark.parametrize("example, good, bad", [
    ([0.5, 0.5], [[1, 2], [0.0, -3.5]], [[1], [1, 2, 3], ["a", "b"], [None, None], "ab", {"a": 1}, [True, 1]]),
    ({"area": 70.5, "rooms": 3, "city": "Lyon"}, [{"area": 1, "rooms": 2, "city": "x", "extra": 1}],
     [{"area": 1, "rooms": 2}, {"area": "big", "rooms": 2, "city": "x"}, [1, 2, 3]]),
    ([[1, 2, 3], [4, 5, 6]], [[[1, 2, 3]], [[1, 2, 3]] * 5], [[[1, 2]], [1, 2, 3]]),
    ("some text", ["other text"], [1, None]),
    (3, [4.5, -1], ["3", True]),
    ([{"a": 1}, "mixed"], [[], [1, "x"]], [{"a": 1}]),
])
def test_derived_schema_is_the_examples_shape(example, good, bad):
    model = Model({"predictor": lambda s: s}, {"model_name": "m", "example": example}, infer_schema=True)
    model.check(example)
    for sample in good:
        model.check(sample)
    for sample in bad:
        with pytest.raises(SampleRejected, match="the shape of the notebook's example: "):
            model.check(sample)


def test_no_derived_schema_when_off_or_given():
    lenient = Model({"predictor": len}, {"model_name": "m", "example": [1, 2]}, infer_schema=False)
    lenient.check("anything")
    given = Model({"predictor": len}, {"model_name": "m", "example": [1, 2], "input_schema": {"type": "array"}},
                  infer_schema=True)
    given.check([1, 2, 3])
    assert given.sample_schema == {"type": "array"}


def test_openapi_shows_the_derived_schema_and_stays_valid():
    spec = build_spec({"model_name": "m", "example": [0.5, 0.5]})
    assert spec["components"]["schemas"]["Sample"]["maxItems"] == 2
    validate(spec)
    assert "maxItems" not in build_spec({"model_name": "m", "example": [0.5, 0.5]}, infer_schema=False)[
        "components"]["schemas"]["Sample"]
    assert load_config({"NBS2I_INFER_SCHEMA": "0"}).infer_schema is False


DRAFT7 = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
          "definitions": {"point": {"type": "array", "items": {"type": "number"}, "minItems": 2},
                          "tree": {"type": "object", "properties": {"child": {"$ref": "#/definitions/tree"},
                                                                    "at": {"$ref": "#/definitions/point"}}}},
          "properties": {"where": {"$ref": "#/definitions/point"}, "shape": {"$ref": "#/definitions/tree"},
                         "again": {"$ref": "#"}},
          "required": ["where"]}


def test_draft07_definitions_and_local_refs_make_a_valid_openapi_document():
    spec = build_spec({"model_name": "m", "input_schema": DRAFT7, "example": {"where": [1, 2]}})
    validate(spec)  # openapi-spec-validator: every $ref resolves
    schemas = spec["components"]["schemas"]
    assert schemas["Sample"]["properties"]["where"] == {"$ref": "#/components/schemas/Sample.point"}
    assert schemas["Sample"]["properties"]["again"] == {"$ref": "#/components/schemas/Sample"}
    assert schemas["Sample.tree"]["properties"]["child"] == {"$ref": "#/components/schemas/Sample.tree"}
    assert "definitions" not in schemas["Sample"]
    same = schema.for_openapi({"$defs": {"x": {"type": "string"}}, "properties": {"a": {"$ref": "#/$defs/x"}}})
    assert same == ({"properties": {"a": {"$ref": "#/components/schemas/Sample.x"}}}, {"Sample.x": {"type": "string"}})
