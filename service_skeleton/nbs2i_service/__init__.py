"""The model service of nbs2i: loads a built model and serves it over HTTP.

Runs inside the model's venv (OUT/venv), so it imports nothing from the builder.
"""

from .model import Model, load_model  # noqa: E402  the library entry point (docs/library.md)

__all__ = ["Model", "load_model"]
