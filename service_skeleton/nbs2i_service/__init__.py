"""The model service of nbs2i: loads a built model and serves it over HTTP.

Runs inside the model's venv (OUT/venv), so it imports nothing from the builder. The engines'
adapters (spark.py, ray.py) run in the engine's own Python, which has none of the model's
packages: importing this package loads nothing until `load_model` or `Model` is asked for.
"""
from __future__ import annotations

from typing import Any

__all__ = ["Model", "load_model"]


def __getattr__(name: str) -> Any:  # PEP 562: `from nbs2i_service import load_model` (docs/batch-and-stream.md)
    if name in __all__:
        from . import model

        return getattr(model, name)
    raise AttributeError(f"module 'nbs2i_service' has no attribute {name!r}")
