"""The figures a notebook drew while the build ran it, read from OUT/model/executed.ipynb
for the page at `/` (plain JSON: the served environment has no nbformat)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .contract import EXECUTED_NOTEBOOK_FILE

IMAGE_TYPES = ("image/png", "image/jpeg")
MAX_FIGURES = 8


def from_notebook(model_dir: Path | None) -> list[dict[str, Any]]:
    """[{"cell": N, "mime": ..., "data": base64}] of the first MAX_FIGURES images, in notebook order."""
    if model_dir is None:
        return []
    try:
        nb = json.loads((Path(model_dir) / EXECUTED_NOTEBOOK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    found = []
    for number, cell in enumerate(nb.get("cells", []), start=1):
        for output in cell.get("outputs", []) if isinstance(cell, dict) else []:
            data = output.get("data", {}) if isinstance(output, dict) else {}
            mime = next((m for m in IMAGE_TYPES if m in data), None)
            if mime is None:
                continue
            text = data[mime]
            found.append({"cell": number, "mime": mime, "data": "".join(text) if isinstance(text, list) else str(text)})
            if len(found) == MAX_FIGURES:
                return found
    return found
