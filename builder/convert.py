"""Notebook -> one Python script, with nbconvert and the template in builder/templates/nbs2i."""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbconvert.exporters import TemplateExporter
from nbconvert.preprocessors import Preprocessor

from .cells import Cell
from .source import Source

TEMPLATES = Path(__file__).parent / "templates"
RUNNER = Path(__file__).parent / "runner.py"


class TranslatedCells(Preprocessor):
    """Puts each code cell's translated Python (see magics.py) and its position in place."""

    def __init__(self, cells: list[Cell], **kw):
        super().__init__(**kw)
        self.by_index = {cell.index: cell for cell in cells}

    def preprocess(self, nb, resources):
        for position, cell in enumerate(nb.cells, start=1):
            if cell.cell_type == "code":
                cell.source = self.by_index[position].python
                cell.metadata["nbs2i"] = {"index": position}
        return nb, resources


def to_script(nb: nbformat.NotebookNode, cells: list[Cell], source: Source, model_dir: Path) -> str:
    """The script that runs every cell of nb and then writes the artifact into model_dir."""
    exporter = TemplateExporter(extra_template_basedirs=[str(TEMPLATES)], template_name="nbs2i",
                                template_file="index.py.j2")
    exporter.register_filter("pyrepr", repr)
    exporter.register_preprocessor(TranslatedCells(cells), enabled=True)
    resources = {"nbs2i": {
        "notebook": source.notebook.name,
        "runner": RUNNER.read_text(encoding="utf-8"),
        "model_dir": str(model_dir.resolve()),
        "source_dir": str(source.directory.resolve()),
    }}
    script, _ = exporter.from_notebook_node(nbformat.from_dict(nb), resources=resources)
    return script
