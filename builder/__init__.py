"""nbs2i's builder: turns a notebook into a served model (OUT/venv, OUT/model, OUT/service)."""
__version__ = "0.1.0"
