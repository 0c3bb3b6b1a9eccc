"""Notebook -> one Python script, with nbconvert and the template in builder/templates/nbs2i.

The script is the runner (runner.py) followed by the code cells as the user wrote them;
IPython, inside the script, does every transformation.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbconvert.exporters import TemplateExporter
from nbconvert.preprocessors import Preprocessor
from nbs2i_service.contract import INSTALL_COMMAND

from .source import Source

TEMPLATES = Path(__file__).parent / "templates"
RUNNER = Path(__file__).parent / "runner.py"


class CellPositions(Preprocessor):
    """Tags each code cell with its 1-based position in the notebook, the number messages use."""

    def preprocess(self, nb, resources):
        for position, cell in enumerate(nb.cells, start=1):
            if cell.cell_type == "code":
                cell.metadata["nbs2i"] = {"index": position}
        return nb, resources


def to_script(nb: nbformat.NotebookNode, source: Source, model_dir: Path, options: dict | None = None) -> str:
    """The script that runs every cell of nb and then writes the artifact into model_dir; options
    (plain values) reach the runner's last step (which reference data to profile)."""
    exporter = TemplateExporter(extra_template_basedirs=[str(TEMPLATES)], template_name="nbs2i",
                                template_file="index.py.j2")
    exporter.register_filter("pyrepr", repr)
    exporter.register_preprocessor(CellPositions(), enabled=True)
    resources = {"nbs2i": {
        "notebook": source.notebook.name,
        "runner": RUNNER.read_text(encoding="utf-8"),
        "model_dir": str(model_dir.resolve()),
        "root": str(source.root.resolve()),
        "install_command": INSTALL_COMMAND,
        "options": dict(options or {}),
    }}
    script, _ = exporter.from_notebook_node(nbformat.from_dict(nb), resources=resources)
    return script
