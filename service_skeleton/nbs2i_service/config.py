"""The one place that reads the environment: load_config(environ) -> Config.

Build and serve knobs live together so every entry point (CLI, s2i scripts, gunicorn)
reads them the same way. Every variable has a row in the README's table.
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

DEFAULT_TIMEOUT_S = 3600  # a notebook that trains for more than an hour should say so
DEFAULT_MAX_REQUEST_BYTES = 10 * 1024 * 1024
DEFAULT_PORT = 8080
DEFAULT_GRPC_PORT = 8081  # KServe's gRPC port


class ConfigError(ValueError):
    """An environment variable holds a value that cannot be used."""


@dataclass(frozen=True)
class Config:
    # build
    notebook: str | None = None
    model_name: str | None = None
    timeout: float = DEFAULT_TIMEOUT_S
    installer: str = "auto"
    cache_dir: Path | None = None
    python: str | None = None
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    cert_file: str | None = None
    relax_pins: bool = False
    as_of: str = "auto"  # NBS2I_AS_OF: auto, today, notebook or YYYY-MM-DD (builder/era.py)
    notebook_committed: str | None = None  # NBS2I_NOTEBOOK_COMMITTED: the notebook's last commit, where no git is
    repository_requirements: bool = True
    minimal_env: bool = True
    serve_requirements: tuple[str, ...] = ()
    reference: str | None = None  # NBS2I_REFERENCE: the training data's variable, or "none"
    reuse_environments: bool = True  # NBS2I_REUSE_ENVIRONMENTS: keep environments for rebuilds (builder/reuse.py)
    # build: sign OUT/model (builder/signing.py); serve: verify it before loading (signature.py)
    signing_key_file: Path | None = None
    signing_key_password: str | None = field(default=None, repr=False)
    signing_certificate_file: Path | None = None
    signing_chain_file: Path | None = None
    verify_key_file: Path | None = None
    verify_chain_file: Path | None = None
    # provenance (builder/provenance.py): where the build ran, as OpenShift and the builder image say
    build_commit: str | None = None   # OPENSHIFT_BUILD_COMMIT
    build_source: str | None = None   # OPENSHIFT_BUILD_SOURCE
    base_image: str | None = None     # NBS2I_BASE_IMAGE (the builder image sets it)
    # serve
    host: str = "0.0.0.0"
    port: int = DEFAULT_PORT
    grpc_port: int = DEFAULT_GRPC_PORT  # 0: no gRPC
    workers: int | None = None
    threads: int = 1
    predict_timeout: int = 60
    client_timeout: float = 30.0
    max_batch: int = 32
    max_batch_instances: int = 10_000
    infer_schema: bool = True
    batch_wait_ms: float = 2.0
    graceful_timeout: int = 30
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    debug: bool = False
    api_token: str | None = field(default=None, repr=False)
    model_dir: Path | None = None
    access_log: bool = True
    mode: str = "http"
    # day two: drift against the reference profile (drift.py), payload logs (payloads.py)
    drift: bool = True
    drift_window: int = 1000
    drift_threshold: float = 0.25
    log_url: str | None = None
    log_mode: str = "all"
    log_sample: float = 1.0
    log_stream: str = "nbs2i:payloads"
    log_queue: int = 1000
    # stream worker (stream.py)
    redis_url: str = "redis://127.0.0.1:6379/0"
    stream_in: str = "nbs2i:samples"
    stream_out: str = "nbs2i:predictions"
    stream_dead: str = "nbs2i:dead-letter"
    stream_group: str = "nbs2i"
    stream_consumer: str | None = None
    stream_batch: int = 64
    stream_block_ms: int = 1000
    stream_claim_idle_ms: int = 60000


def _int(environ: Mapping[str, str], name: str, default: int | None, minimum: int) -> int | None:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number. Set it to e.g. {name}={default or 1}.") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} is below the minimum {minimum}.")
    return value


def _grpc_port(environ: Mapping[str, str]) -> int:
    """NBS2I_GRPC_PORT: 0 turns gRPC off; else a port apart from PORT's."""
    value = _int(environ, "NBS2I_GRPC_PORT", DEFAULT_GRPC_PORT, minimum=0)
    if value > 65535:
        raise ConfigError(f"NBS2I_GRPC_PORT={value} is not a port (1-65535, or 0 for no gRPC).")
    if value and value == _http_port(environ):
        raise ConfigError(f"NBS2I_GRPC_PORT={value} is also HTTP's port: HTTP and gRPC need a port each "
                          "(KServe's are 8080 and 8081), or NBS2I_GRPC_PORT=0 for no gRPC. Where the platform sets "
                          "PORT to the gRPC port (Knative, KServe with an h2c port), give HTTP NBS2I_HTTP_PORT.")
    return value


def _http_port(environ: Mapping[str, str]) -> int:
    """HTTP's port: NBS2I_HTTP_PORT, else PORT (what Knative and KServe set), else 8080."""
    return _int(environ, "NBS2I_HTTP_PORT", None, minimum=1) or _int(environ, "PORT", DEFAULT_PORT, minimum=1)


def _float(environ: Mapping[str, str], name: str, default: float, zero: bool = False) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number. Set it to e.g. {name}={default:g}.") from None
    if value < 0 or (value == 0 and not zero) or value != value:
        raise ConfigError(f"{name}={raw} must be greater than 0{' (or 0)' if zero else ''}.")
    return value


def _bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is not a yes/no value. Use 1 or 0.")


def _split(raw: str | None) -> tuple[str, ...]:
    return tuple((raw or "").split())


def _secret(environ: Mapping[str, str], name: str) -> str | None:
    """NAME, or the contents of the file named by NAME_FILE (mounted secrets); stripped of spaces
    and newlines either way (a presented token is stripped too, so one kept with them never matched)."""
    value = environ.get(name, "").strip()
    path = environ.get(f"{name}_FILE", "").strip()
    if value and path:
        raise ConfigError(f"Both {name} and {name}_FILE are set; set only one.")
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE={path} cannot be read ({exc.strerror}).") from None
        if not value:
            raise ConfigError(f"{name}_FILE={path} is empty.")
    return value or None


def _file(environ: Mapping[str, str], name: str, starts: str, what: str) -> Path | None:
    """NAME: a readable file that holds what (its text starts with `starts`), or None when unset."""
    value = environ.get(name, "").strip()
    if not value:
        return None
    try:
        head = Path(value).read_text(encoding="utf-8", errors="replace").lstrip()[:100]
    except OSError as exc:
        raise ConfigError(f"{name}={value} cannot be read ({exc.strerror}).") from None
    if not head.startswith(starts):
        raise ConfigError(f"{name}={value} does not hold {what} (a PEM file starting {starts}...).")
    return Path(value)


def _choice(environ: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = environ.get(name, "").strip() or default
    if value not in choices:
        raise ConfigError(f"{name}={value!r} is not one of {', '.join(choices)}.")
    return value


def _as_of(environ: Mapping[str, str]) -> str:
    value = environ.get("NBS2I_AS_OF", "").strip() or "auto"
    if value in ("auto", "today", "notebook"):
        return value
    return _day({"NBS2I_AS_OF": value}, "NBS2I_AS_OF", "today, notebook or ") or value


def _day(environ: Mapping[str, str], name: str, also: str = "") -> str | None:
    value = environ.get(name, "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not {also}a day as YYYY-MM-DD.") from None


def _log_url(environ: Mapping[str, str]) -> str | None:
    value = environ.get("NBS2I_LOG_URL", "").strip()
    if value and not value.startswith(("http://", "https://", "redis://", "rediss://", "unix://")):
        raise ConfigError(f"NBS2I_LOG_URL={value!r}: give an http(s):// address (a CloudEvents sink: a Knative broker, "
                          "KServe's message dumper) or a redis:// one (a Redis stream).")
    return value or None


def _fraction(environ: Mapping[str, str], name: str, default: float) -> float:
    value = _float(environ, name, default, zero=True)
    if value > 1:
        raise ConfigError(f"{name}={value:g} is over 1: give the fraction of requests to log, 0 to 1.")
    return value


def load_config(environ: Mapping[str, str] | None = None) -> Config:
    """Read every knob from environ (os.environ by default); raise ConfigError on bad values."""
    env = os.environ if environ is None else environ
    if env.get("NBS2I_SIGNING_KEY", "").strip():
        raise ConfigError("NBS2I_SIGNING_KEY (an HMAC secret shared by the build and every server) is retired: sign with "
                          "a key pair instead. Build with NBS2I_SIGNING_KEY_FILE=private.pem (ECDSA P-256 or stronger), "
                          "serve with NBS2I_VERIFY_KEY_FILE=public.pem (docs/deploy.md, Signed models).")
    cache = env.get("NBS2I_CACHE_DIR", "").strip()
    model_dir = env.get("NBS2I_MODEL_DIR", "").strip()
    return Config(
        notebook=env.get("NBS2I_NOTEBOOK", "").strip() or None,
        model_name=env.get("NBS2I_MODEL_NAME", "").strip() or None,
        timeout=_float(env, "NBS2I_TIMEOUT", DEFAULT_TIMEOUT_S),
        installer=_choice(env, "NBS2I_INSTALLER", Config.installer, ("auto", "uv", "pip")),
        cache_dir=Path(cache) if cache else None,
        python=env.get("NBS2I_PYTHON", "").strip() or None,
        index_url=env.get("PIP_INDEX_URL", "").strip() or None,
        extra_index_urls=_split(env.get("PIP_EXTRA_INDEX_URL")),
        find_links=_split(env.get("PIP_FIND_LINKS")),
        cert_file=env.get("PIP_CERT", "").strip() or env.get("SSL_CERT_FILE", "").strip() or None,
        relax_pins=_bool(env, "NBS2I_RELAX_PINS", False),
        as_of=_as_of(env),
        notebook_committed=_day(env, "NBS2I_NOTEBOOK_COMMITTED"),
        repository_requirements=_bool(env, "NBS2I_REPOSITORY_REQUIREMENTS", Config.repository_requirements),
        minimal_env=_bool(env, "NBS2I_MINIMAL_ENV", True),
        serve_requirements=_split(env.get("NBS2I_SERVE_REQUIREMENTS", "").replace(",", " ")),
        reference=env.get("NBS2I_REFERENCE", "").strip() or None,
        reuse_environments=_bool(env, "NBS2I_REUSE_ENVIRONMENTS", Config.reuse_environments),
        signing_key_file=_file(env, "NBS2I_SIGNING_KEY_FILE", "-----BEGIN", "a PEM private key (ECDSA P-256 or stronger)"),
        signing_key_password=_secret(env, "NBS2I_SIGNING_KEY_PASSWORD"),
        signing_certificate_file=_file(env, "NBS2I_SIGNING_CERTIFICATE_FILE", "-----BEGIN CERTIFICATE",
                                       "a PEM certificate of the signing key"),
        signing_chain_file=_file(env, "NBS2I_SIGNING_CHAIN_FILE", "-----BEGIN CERTIFICATE",
                                 "the PEM certificates of the signing certificate's chain"),
        verify_key_file=_file(env, "NBS2I_VERIFY_KEY_FILE", "-----BEGIN PUBLIC KEY", "a PEM public key"),
        verify_chain_file=_file(env, "NBS2I_VERIFY_CHAIN_FILE", "-----BEGIN CERTIFICATE",
                                "the PEM certificates a signing certificate must chain to"),
        build_commit=env.get("OPENSHIFT_BUILD_COMMIT", "").strip() or None,
        build_source=env.get("OPENSHIFT_BUILD_SOURCE", "").strip() or None,
        base_image=env.get("NBS2I_BASE_IMAGE", "").strip() or None,
        host=env.get("NBS2I_HOST", "").strip() or "0.0.0.0",
        port=_http_port(env),
        grpc_port=_grpc_port(env),
        workers=_int(env, "WEB_CONCURRENCY", None, minimum=1),
        threads=_int(env, "NBS2I_THREADS", 1, minimum=1),
        predict_timeout=_int(env, "NBS2I_PREDICT_TIMEOUT", 60, minimum=1),
        client_timeout=_float(env, "NBS2I_CLIENT_TIMEOUT", Config.client_timeout),
        max_batch=_int(env, "NBS2I_MAX_BATCH", Config.max_batch, minimum=1),
        max_batch_instances=_int(env, "NBS2I_MAX_BATCH_INSTANCES", Config.max_batch_instances, minimum=1),
        infer_schema=_bool(env, "NBS2I_INFER_SCHEMA", Config.infer_schema),
        batch_wait_ms=_float(env, "NBS2I_BATCH_WAIT_MS", Config.batch_wait_ms, zero=True),
        graceful_timeout=_int(env, "NBS2I_GRACEFUL_TIMEOUT", 30, minimum=1),
        max_request_bytes=_int(env, "NBS2I_MAX_REQUEST_BYTES", DEFAULT_MAX_REQUEST_BYTES, minimum=1),
        debug=_bool(env, "NBS2I_DEBUG", False),
        api_token=_secret(env, "NBS2I_API_TOKEN"),
        model_dir=Path(model_dir) if model_dir else None,
        access_log=_bool(env, "NBS2I_ACCESS_LOG", True),
        mode=_choice(env, "NBS2I_MODE", Config.mode, ("http", "stream")),
        drift=_bool(env, "NBS2I_DRIFT", Config.drift),
        drift_window=_int(env, "NBS2I_DRIFT_WINDOW", Config.drift_window, minimum=10),
        drift_threshold=_float(env, "NBS2I_DRIFT_THRESHOLD", Config.drift_threshold),
        log_url=_log_url(env),
        log_mode=_choice(env, "NBS2I_LOG_MODE", Config.log_mode, ("all", "request", "response")),
        log_sample=_fraction(env, "NBS2I_LOG_SAMPLE", Config.log_sample),
        log_stream=env.get("NBS2I_LOG_STREAM", "").strip() or Config.log_stream,
        log_queue=_int(env, "NBS2I_LOG_QUEUE", Config.log_queue, minimum=1),
        redis_url=env.get("NBS2I_REDIS_URL", "").strip() or Config.redis_url,
        stream_in=env.get("NBS2I_STREAM_IN", "").strip() or Config.stream_in,
        stream_out=env.get("NBS2I_STREAM_OUT", "").strip() or Config.stream_out,
        stream_dead=env.get("NBS2I_STREAM_DEAD", "").strip() or Config.stream_dead,
        stream_group=env.get("NBS2I_STREAM_GROUP", "").strip() or Config.stream_group,
        stream_consumer=env.get("NBS2I_STREAM_CONSUMER", "").strip() or None,
        stream_batch=_int(env, "NBS2I_STREAM_BATCH", Config.stream_batch, minimum=1),
        stream_block_ms=_int(env, "NBS2I_STREAM_BLOCK_MS", Config.stream_block_ms, minimum=1),
        stream_claim_idle_ms=_int(env, "NBS2I_STREAM_CLAIM_IDLE_MS", Config.stream_claim_idle_ms, minimum=1),
    )
