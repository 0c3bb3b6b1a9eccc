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
