"""The model service of nbs2i: loads a built model and serves it over HTTP.

Runs inside the model's venv (OUT/venv), so it imports nothing from the builder.
"""

from .model import Model, load_model  # the library entry point (docs/batch-and-stream.md)

__all__ = ["Model", "load_model"]
