"""http.py, the request plumbing both fronts and the worker share: each answer exactly."""
from __future__ import annotations

import json

import pytest

from nbs2i_service import http
from nbs2i_service.errors import RequestError


@pytest.mark.parametrize("given, expected", [
    ("Application/JSON; charset=utf-8", "application/json"), (" text/plain ", "text/plain"),
    ("a/b; x=1; y=2", "a/b"), ("", ""), (None, "")])
def test_mimetype_is_the_lowercased_type_before_the_first_parameter(given, expected):
    assert http.mimetype(given) == expected


@pytest.mark.parametrize("media_type", ["application/json", "application/problem+json", "application/vnd.a.b+json"])
def test_json_and_structured_json_types_are_decoded(media_type):
    assert http.decode_json(media_type, b' {"x": [1, 2.5]} ') == {"x": [1, 2.5]}


@pytest.mark.parametrize("media_type, data, status, code, message", [
    ("text/plain", b"{}", 415, "unsupported_media_type",
     "Send the sample as JSON with 'Content-Type: application/json' (got text/plain)."),
    ("", b"{}", 415, "unsupported_media_type", "Send the sample as JSON with 'Content-Type: application/json' (got none)."),
    ("application/json", b" \r\n\t", 400, "malformed_json", "The request body is empty; send one JSON value."),
])
def test_refusals_word_for_word(media_type, data, status, code, message):
    with pytest.raises(RequestError) as err:
        http.decode_json(media_type, data)
    assert (err.value.status, err.value.code, err.value.message) == (status, code, message)


def test_malformed_json_names_the_parsers_complaint():
    with pytest.raises(RequestError) as err:
        http.decode_json("application/json", b'{"x": ')
    assert (err.value.status, err.value.code) == (400, "malformed_json")
    assert err.value.message.startswith("The request body is not valid JSON: ") and err.value.message.endswith(".")


def test_too_large_names_the_limit_and_the_variable():
    error = http.too_large(1234)
    assert (error.status, error.code, error.message) == (
        413, "request_entity_too_large", "The body is over the limit of 1234 bytes (NBS2I_MAX_REQUEST_BYTES).")


@pytest.mark.parametrize("authorization", ["Bearer s3cret", "bearer s3cret", "BEARER  s3cret ", "Bearer s3cret\t"])
def test_a_bearer_token_is_accepted_however_the_scheme_is_cased_or_spaced(authorization):
    http.check_token(authorization, "s3cret")


@pytest.mark.parametrize("authorization", [None, "", "s3cret", "Basic s3cret", "Bearer", "Bearer s3cre", "Bearer s3cret2",
                                           "Token Bearer s3cret"])
def test_anything_else_is_401(authorization):
    with pytest.raises(RequestError) as err:
        http.check_token(authorization, "s3cret")
    assert (err.value.status, err.value.code, err.value.message) == (
        401, "unauthorized", "Send 'Authorization: Bearer <token>' with the service's API token.")


def test_no_token_set_lets_everything_through():
    http.check_token(None, None)
    http.check_token("Basic x", None)


def test_request_ids_are_kept_when_sane_and_made_otherwise():
    assert http.request_id("a.B-9_:z") == "a.B-9_:z"
    assert http.request_id("x" * 128) == "x" * 128
    for bad in (None, "", "x" * 129, "a b", "a\nb", "é"):
        made = http.request_id(bad)
        assert len(made) == 32 and int(made, 16) >= 0 and made != bad


def test_error_documents():
    assert json.loads(http.error_document("c", "m", "r")) == {"error": {"code": "c", "message": "m", "request_id": "r"}}
    assert json.loads(http.error_document("c", "m", "r", [])) == {
        "error": {"code": "c", "message": "m", "request_id": "r", "details": []}}


def test_json_headers_exactly_as_written_on_the_wire():
    assert http.json_headers(400, "r1", 12) == [("Content-Type", "application/json"), ("Content-Length", "12"),
                                                 ("X-Request-ID", "r1")]
    assert http.json_headers(401, "r2", 3) == [("Content-Type", "application/json"), ("Content-Length", "3"),
                                                ("X-Request-ID", "r2"), ("WWW-Authenticate", "Bearer")]
