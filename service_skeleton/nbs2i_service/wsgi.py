"""The WSGI entry point gunicorn loads (`nbs2i_service.wsgi:app`).

Loading happens at import, which gunicorn's preload_app puts in the master before it
forks: the model is read, checked and unpickled once, then shared copy-on-write. With the
default (gevent) worker, the standard library is patched before that (Worker.setup), so what
the notebook bound at load (`from time import sleep`, a client's socket) cooperates too.
A model that fails its checks stops the service with a non-zero exit and one clear line.
"""
from __future__ import annotations

import logging
import sys

from .app import ENDPOINTS, create_app
from .config import ConfigError, load_config
from .contract import META_BUILD_ID, served_model_dir
from .errors import REFUSED, ModelLoadError
from .metrics import Metrics
from .model import load_model

logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s")
log = logging.getLogger("nbs2i")


def _load():
    try:
        config = load_config()
        model_dir = served_model_dir(config.model_dir)
        model = load_model(model_dir, config.verify_key_file, config.infer_schema, config.verify_chain_file)
    except (ModelLoadError, ConfigError) as exc:
        log.critical("refusing to start: %s", exc)
        sys.exit(REFUSED)
    log.info("loaded model %s (build %s) from %s", model.name, model.metadata.get(META_BUILD_ID), model_dir)
    metrics = Metrics(ENDPOINTS, model.name, str(model.metadata.get(META_BUILD_ID, "")))
    return create_app(model, config, metrics)


app = _load()
