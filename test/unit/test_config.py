"""The one config loader: defaults, parsing and errors that name the variable."""
from __future__ import annotations

from pathlib import Path

import pytest

from nbs2i_service.config import Config, ConfigError, load_config


def test_defaults():
    c = load_config({})
    assert (c.port, c.timeout, c.max_request_bytes, c.workers, c.debug, c.api_token) == (8080, 3600, 10485760, None, False, None)


def test_values_are_parsed():
    c = load_config({"PORT": "9000", "WEB_CONCURRENCY": "3", "NBS2I_TIMEOUT": "2.5", "NBS2I_DEBUG": "yes",
                     "PIP_EXTRA_INDEX_URL": "https://a/simple https://b/simple"})
    assert (c.port, c.workers, c.timeout, c.debug) == (9000, 3, 2.5, True)
    assert c.extra_index_urls == ("https://a/simple", "https://b/simple")


@pytest.mark.parametrize("env, message", [
    ({"PORT": "http"}, "PORT='http' is not a whole number"),
    ({"WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY=0 is below the minimum 1"),
    ({"NBS2I_TIMEOUT": "-1"}, "NBS2I_TIMEOUT=-1 must be greater than 0"),
    ({"NBS2I_DEBUG": "maybe"}, "NBS2I_DEBUG='maybe' is not a yes/no value"),
    ({"NBS2I_INSTALLER": "conda"}, "NBS2I_INSTALLER='conda' is not one of auto, uv, pip"),
    ({"NBS2I_API_TOKEN": "a", "NBS2I_API_TOKEN_FILE": "/x"}, "Both NBS2I_API_TOKEN and NBS2I_API_TOKEN_FILE are set"),
    ({"NBS2I_API_TOKEN_FILE": "/nonexistent/token"}, "NBS2I_API_TOKEN_FILE=/nonexistent/token cannot be read"),
])
def test_bad_values_name_the_variable(env, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(env)


def test_build_switches():
    c = load_config({})
    assert (c.minimal_env, c.serve_requirements, c.relax_pins) == (True, (), False)
    c = load_config({"NBS2I_MINIMAL_ENV": "0", "NBS2I_SERVE_REQUIREMENTS": "pandas, matplotlib>=3 tabulate",
                     "NBS2I_RELAX_PINS": "1"})
    assert (c.minimal_env, c.serve_requirements, c.relax_pins) == (False, ("pandas", "matplotlib>=3", "tabulate"), True)
    with pytest.raises(ConfigError, match="NBS2I_MINIMAL_ENV='maybe' is not a yes/no value"):
        load_config({"NBS2I_MINIMAL_ENV": "maybe"})


# README's table of variables: name -> Config field whose default it states
README_DEFAULTS = {"PORT": "port", "NBS2I_HOST": "host", "NBS2I_THREADS": "threads", "NBS2I_TIMEOUT": "timeout",
                   "NBS2I_PREDICT_TIMEOUT": "predict_timeout", "NBS2I_CLIENT_TIMEOUT": "client_timeout",
                   "NBS2I_MAX_BATCH": "max_batch", "NBS2I_BATCH_WAIT_MS": "batch_wait_ms",
                   "NBS2I_GRACEFUL_TIMEOUT": "graceful_timeout", "NBS2I_MAX_REQUEST_BYTES": "max_request_bytes",
                   "NBS2I_MAX_BATCH_INSTANCES": "max_batch_instances", "NBS2I_INFER_SCHEMA": "infer_schema",
                   "NBS2I_DEBUG": "debug", "NBS2I_ACCESS_LOG": "access_log", "NBS2I_MODE": "mode",
                   "NBS2I_INSTALLER": "installer", "NBS2I_MINIMAL_ENV": "minimal_env", "NBS2I_RELAX_PINS": "relax_pins",
                   "NBS2I_REPOSITORY_REQUIREMENTS": "repository_requirements",
                   "NBS2I_REDIS_URL": "redis_url", "NBS2I_STREAM_GROUP": "stream_group",
                   "NBS2I_STREAM_BATCH": "stream_batch", "NBS2I_STREAM_BLOCK_MS": "stream_block_ms",
                   "NBS2I_STREAM_CLAIM_IDLE_MS": "stream_claim_idle_ms"}


def test_defaults_are_the_ones_the_readme_states():
    import re

    from test.helpers import REPO

    stated = {}
    for line in (REPO / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 3 and re.fullmatch(r"`[A-Z0-9_]+`", cells[1]):
            default = re.fullmatch(r"`([^`]*)`", cells[2])
            stated[cells[1].strip("`")] = default.group(1) if default else None
    config = load_config({})
    for name, field in README_DEFAULTS.items():
        value = getattr(config, field)
        shown = {True: "1", False: "0"}.get(value, value) if isinstance(value, bool) else f"{value:g}" \
            if isinstance(value, float) else str(value)
        assert stated.get(name) == shown, f"README says {name} defaults to {stated.get(name)!r}; it is {shown!r}"


# Every variable, set with the spaces a YAML file or a shell leaves around it: the field it
# sets and the value it must hold. A variable read into the wrong field, not stripped, or
# not parsed fails here.
EVERY_VARIABLE = [
    ("NBS2I_NOTEBOOK", " nb/train.ipynb ", "notebook", "nb/train.ipynb"),
    ("NBS2I_MODEL_NAME", " churn ", "model_name", "churn"),
    ("NBS2I_TIMEOUT", " 90.5 ", "timeout", 90.5),
    ("NBS2I_INSTALLER", " pip ", "installer", "pip"),
    ("NBS2I_INSTALLER", "uv", "installer", "uv"),
    ("NBS2I_CACHE_DIR", " /var/cache/nb ", "cache_dir", Path("/var/cache/nb")),
    ("NBS2I_PYTHON", " /usr/bin/python3.11 ", "python", "/usr/bin/python3.11"),
    ("PIP_INDEX_URL", " https://mirror/simple ", "index_url", "https://mirror/simple"),
    ("PIP_FIND_LINKS", " /wheels  /more ", "find_links", ("/wheels", "/more")),
    ("PIP_CERT", " /etc/ca.pem ", "cert_file", "/etc/ca.pem"),
    ("SSL_CERT_FILE", " /etc/ssl.pem ", "cert_file", "/etc/ssl.pem"),
    ("NBS2I_RELAX_PINS", " TRUE ", "relax_pins", True),
    ("NBS2I_REPOSITORY_REQUIREMENTS", " 0 ", "repository_requirements", False),
    ("NBS2I_MINIMAL_ENV", " off ", "minimal_env", False),
    ("NBS2I_SERVE_REQUIREMENTS", "a,b", "serve_requirements", ("a", "b")),
    ("NBS2I_HOST", " 127.0.0.1 ", "host", "127.0.0.1"),
    ("PORT", " 1 ", "port", 1),
    ("WEB_CONCURRENCY", " 1 ", "workers", 1),
    ("NBS2I_THREADS", " 4 ", "threads", 4),
    ("NBS2I_PREDICT_TIMEOUT", " 7 ", "predict_timeout", 7),
    ("NBS2I_CLIENT_TIMEOUT", " 0.25 ", "client_timeout", 0.25),
    ("NBS2I_MAX_BATCH", " 1 ", "max_batch", 1),
    ("NBS2I_MAX_BATCH_INSTANCES", " 1 ", "max_batch_instances", 1),
    ("NBS2I_INFER_SCHEMA", " no ", "infer_schema", False),
    ("NBS2I_BATCH_WAIT_MS", " 0 ", "batch_wait_ms", 0.0),
    ("NBS2I_BATCH_WAIT_MS", "0.5", "batch_wait_ms", 0.5),
    ("NBS2I_GRACEFUL_TIMEOUT", " 1 ", "graceful_timeout", 1),
    ("NBS2I_MAX_REQUEST_BYTES", " 1 ", "max_request_bytes", 1),
    ("NBS2I_DEBUG", " On ", "debug", True),
    ("NBS2I_ACCESS_LOG", " false ", "access_log", False),
    ("NBS2I_MODEL_DIR", " /models/m ", "model_dir", Path("/models/m")),
    ("NBS2I_MODE", " stream ", "mode", "stream"),
    ("NBS2I_REDIS_URL", " redis://r:6379/1 ", "redis_url", "redis://r:6379/1"),
    ("NBS2I_STREAM_IN", " in ", "stream_in", "in"),
    ("NBS2I_STREAM_OUT", " out ", "stream_out", "out"),
    ("NBS2I_STREAM_DEAD", " dead ", "stream_dead", "dead"),
    ("NBS2I_STREAM_GROUP", " g ", "stream_group", "g"),
    ("NBS2I_STREAM_CONSUMER", " c-1 ", "stream_consumer", "c-1"),
    ("NBS2I_STREAM_BATCH", " 1 ", "stream_batch", 1),
    ("NBS2I_STREAM_BLOCK_MS", " 1 ", "stream_block_ms", 1),
    ("NBS2I_STREAM_CLAIM_IDLE_MS", " 1 ", "stream_claim_idle_ms", 1),
    ("NBS2I_AS_OF", " 2022-11-30 ", "as_of", "2022-11-30"),
    ("NBS2I_NOTEBOOK_COMMITTED", "2022-11-30", "notebook_committed", "2022-11-30"),
    ("NBS2I_REFERENCE", " train ", "reference", "train"),
    ("NBS2I_REUSE_ENVIRONMENTS", "0", "reuse_environments", False),
    ("NBS2I_DRIFT", "0", "drift", False),
    ("NBS2I_DRIFT_WINDOW", "500", "drift_window", 500),
    ("NBS2I_DRIFT_THRESHOLD", "0.1", "drift_threshold", 0.1),
    ("NBS2I_LOG_URL", "redis://r:6379/0", "log_url", "redis://r:6379/0"),
    ("NBS2I_LOG_MODE", "request", "log_mode", "request"),
    ("NBS2I_LOG_SAMPLE", "0.5", "log_sample", 0.5),
    ("NBS2I_LOG_STREAM", "s", "log_stream", "s"),
    ("NBS2I_LOG_QUEUE", "5", "log_queue", 5),
    ("NBS2I_SIGNING_KEY_PASSWORD", "pw", "signing_key_password", "pw"),
    ("OPENSHIFT_BUILD_COMMIT", "abc", "build_commit", "abc"),
    ("OPENSHIFT_BUILD_SOURCE", "https://git/x", "build_source", "https://git/x"),
    ("NBS2I_BASE_IMAGE", "python:3.11", "base_image", "python:3.11"),
    ("NBS2I_API_TOKEN", "t0ken", "api_token", "t0ken"),
]


@pytest.mark.parametrize("name, raw, field, expected", EVERY_VARIABLE)
def test_every_variable_sets_its_own_field_and_only_it(name, raw, field, expected):
    config = load_config({name: raw})
    assert getattr(config, field) == expected
    changed = {f for f in Config.__dataclass_fields__ if getattr(config, f) != getattr(Config(), f)}
    assert changed == {field}


def test_unset_and_blank_are_the_defaults_and_the_defaults_are_these():
    blank = {name: "  " for name, *_ in EVERY_VARIABLE} | {"PIP_EXTRA_INDEX_URL": " "}
    assert load_config({}) == load_config(blank) == Config()
    assert Config() == Config(
        notebook=None, model_name=None, timeout=3600, installer="auto", cache_dir=None, python=None, index_url=None,
        extra_index_urls=(), find_links=(), cert_file=None, relax_pins=False, as_of="auto", notebook_committed=None,
        repository_requirements=True, minimal_env=True, serve_requirements=(), reference=None, reuse_environments=True,
        signing_key_file=None, signing_key_password=None, signing_certificate_file=None, signing_chain_file=None,
        verify_key_file=None, verify_chain_file=None, build_commit=None, build_source=None, base_image=None,
        host="0.0.0.0", port=8080, workers=None, threads=1, predict_timeout=60, client_timeout=30.0,
        max_batch=32, max_batch_instances=10_000, infer_schema=True, batch_wait_ms=2.0, graceful_timeout=30,
        max_request_bytes=10 * 1024 * 1024, debug=False, api_token=None, model_dir=None, access_log=True, mode="http",
        redis_url="redis://127.0.0.1:6379/0", stream_in="nbs2i:samples", stream_out="nbs2i:predictions",
        stream_dead="nbs2i:dead-letter", stream_group="nbs2i", stream_consumer=None, stream_batch=64,
        stream_block_ms=1000, stream_claim_idle_ms=60000, drift=True, drift_window=1000, drift_threshold=0.25,
        log_url=None, log_mode="all", log_sample=1.0, log_stream="nbs2i:payloads", log_queue=1000)


def test_os_environ_is_read_when_no_mapping_is_given(monkeypatch):
    monkeypatch.setenv("NBS2I_MAX_BATCH", "5")
    assert load_config().max_batch == 5


def test_pip_cert_wins_over_ssl_cert_file():
    assert load_config({"PIP_CERT": "/a.pem", "SSL_CERT_FILE": "/b.pem"}).cert_file == "/a.pem"


INTEGERS = [(name, field) for name, _, field, value in EVERY_VARIABLE if type(value) is int]
FLOATS = [("NBS2I_TIMEOUT", False), ("NBS2I_CLIENT_TIMEOUT", False), ("NBS2I_BATCH_WAIT_MS", True)]
BOOLEANS = [name for name, _, _, value in EVERY_VARIABLE if type(value) is bool]


@pytest.mark.parametrize("name, field", INTEGERS)
def test_whole_numbers_are_refused_below_their_minimum_and_when_not_whole(name, field):
    default = getattr(Config(), field)
    minimum = {"NBS2I_DRIFT_WINDOW": 10}.get(name, 1)  # a window of fewer samples says nothing
    with pytest.raises(ConfigError) as err:
        load_config({name: str(minimum - 1)})
    assert str(err.value) == f"{name}={minimum - 1} is below the minimum {minimum}."
    with pytest.raises(ConfigError) as err:
        load_config({name: "2.5"})
    assert str(err.value) == f"{name}='2.5' is not a whole number. Set it to e.g. {name}={default or 1}."


@pytest.mark.parametrize("name, zero", FLOATS)
def test_numbers_are_refused_when_negative_zero_nan_or_words(name, zero):
    default = getattr(Config(), {"NBS2I_TIMEOUT": "timeout", "NBS2I_CLIENT_TIMEOUT": "client_timeout",
                                 "NBS2I_BATCH_WAIT_MS": "batch_wait_ms"}[name])
    suffix = " (or 0)" if zero else ""
    for raw in ["-0.5", "nan"] + ([] if zero else ["0"]):
        with pytest.raises(ConfigError) as err:
            load_config({name: raw})
        assert str(err.value) == f"{name}={raw} must be greater than 0{suffix}."
    with pytest.raises(ConfigError) as err:
        load_config({name: "soon"})
    assert str(err.value) == f"{name}='soon' is not a number. Set it to e.g. {name}={default:g}."


@pytest.mark.parametrize("name", BOOLEANS)
def test_yes_no_values_all_spellings(name):
    for raw, value in (("1", True), ("true", True), ("yes", True), ("on", True),
                       ("0", False), ("false", False), ("no", False), ("off", False)):
        assert getattr(load_config({name: raw.upper()}), dict(
            (n, f) for n, _, f, _ in EVERY_VARIABLE)[name]) is value
    with pytest.raises(ConfigError) as err:
        load_config({name: " Maybe "})
    assert str(err.value) == f"{name}='maybe' is not a yes/no value. Use 1 or 0."


@pytest.mark.parametrize("env, message", [
    ({"NBS2I_MODE": "batch"}, "NBS2I_MODE='batch' is not one of http, stream."),
    ({"NBS2I_INSTALLER": "conda"}, "NBS2I_INSTALLER='conda' is not one of auto, uv, pip."),
    ({"NBS2I_SIGNING_KEY": "a"}, "NBS2I_SIGNING_KEY (an HMAC secret shared by the build and every server) is retired: "
     "sign with a key pair instead. Build with NBS2I_SIGNING_KEY_FILE=private.pem (ECDSA P-256 or stronger), serve "
     "with NBS2I_VERIFY_KEY_FILE=public.pem (docs/deploy.md, Signed models)."),
    ({"NBS2I_AS_OF": "last year"}, "NBS2I_AS_OF='last year' is not today, notebook or a day as YYYY-MM-DD."),
    ({"NBS2I_LOG_URL": "kafka://k"}, "NBS2I_LOG_URL='kafka://k': give an http(s):// address (a CloudEvents sink: a "
     "Knative broker, KServe's message dumper) or a redis:// one (a Redis stream)."),
    ({"NBS2I_LOG_SAMPLE": "2"}, "NBS2I_LOG_SAMPLE=2 is over 1: give the fraction of requests to log, 0 to 1."),
    ({"NBS2I_VERIFY_KEY_FILE": "/nonexistent/k.pem"}, "NBS2I_VERIFY_KEY_FILE=/nonexistent/k.pem cannot be read (No such "
     "file or directory)."),
    ({"NBS2I_API_TOKEN_FILE": "/nonexistent/t"}, "NBS2I_API_TOKEN_FILE=/nonexistent/t cannot be read (No such file or directory)."),
])
def test_refusals_word_for_word(env, message):
    with pytest.raises(ConfigError) as err:
        load_config(env)
    assert str(err.value) == message


def test_secrets_from_files(tmp_path):
    (tmp_path / "key").write_text("  k1\n", encoding="utf-8")
    (tmp_path / "empty").write_text(" \n")
    (tmp_path / "private.pem").write_text("-----BEGIN EC PRIVATE KEY-----\n...\n")
    assert load_config({"NBS2I_SIGNING_KEY_FILE": str(tmp_path / "private.pem")}).signing_key_file == tmp_path / "private.pem"
    with pytest.raises(ConfigError) as err:
        load_config({"NBS2I_VERIFY_KEY_FILE": str(tmp_path / "key")})
    assert str(err.value) == (f"NBS2I_VERIFY_KEY_FILE={tmp_path / 'key'} does not hold a PEM public key (a PEM file "
                              "starting -----BEGIN PUBLIC KEY...).")
    with pytest.raises(ConfigError) as err:
        load_config({"NBS2I_API_TOKEN_FILE": str(tmp_path / "empty")})
    assert str(err.value) == f"NBS2I_API_TOKEN_FILE={tmp_path / 'empty'} is empty."
    assert "t0ken" not in repr(load_config({"NBS2I_API_TOKEN": "t0ken"}))  # never printed with the config
