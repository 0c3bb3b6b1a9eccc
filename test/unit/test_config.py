"""The one config loader: defaults, parsing and errors that name the variable."""
from __future__ import annotations

import pytest

from nbs2i_service.config import ConfigError, load_config


def test_defaults():
    c = load_config({})
    assert (c.port, c.timeout, c.max_request_bytes, c.workers, c.debug, c.api_token) == (8080, 3600, 10485760, None, False, None)


def test_values_are_parsed():
    c = load_config({"PORT": "9000", "WEB_CONCURRENCY": "3", "NBS2I_TIMEOUT": "2.5", "NBS2I_DEBUG": "yes",
                     "PIP_EXTRA_INDEX_URL": "https://a/simple https://b/simple", "NBS2I_SIGNING_KEY": "k"})
    assert (c.port, c.workers, c.timeout, c.debug) == (9000, 3, 2.5, True)
    assert c.extra_index_urls == ("https://a/simple", "https://b/simple")
    assert c.signing_key == b"k"


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
