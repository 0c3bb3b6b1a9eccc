"""metadata.json and the executed notebook: the record of how the model was made."""
from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from pathlib import Path

import nbformat
from nbs2i_service import artifact, contract

from packaging.utils import canonicalize_name

from . import __version__
from .declared import Declared
from .execute import Report
from .requirements import Requirement
from .source import Source
from .specifiers import Relaxed


def build(source: Source, model_name: str, requirements: list[Requirement], packages: list[str],
          build_packages: list[str], python_version: str, report: Report, artifact_bytes: bytes, installer: str) -> dict:
    """The metadata of one build; the service reads the keys named in nbs2i_service.contract."""
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    digest = artifact.sha256_hex(artifact_bytes)
    meta = {
        contract.META_MODEL_NAME: model_name,
        contract.META_BUILD_ID: f"{now:%Y%m%dT%H%M%SZ}-{digest[:12]}",
        "built_at": now.isoformat().replace("+00:00", "Z"),
        "notebook": source.notebook.name,
        "notebook_sha256": hashlib.sha256(source.notebook.read_bytes()).hexdigest(),
        contract.META_PYTHON: python_version,
        "nbs2i_version": __version__,
        "installer": installer,
        "requirements": [r.text for r in requirements],
        "packages": packages,              # the served environment (OUT/venv)
        "build_packages": build_packages,  # the build environment the notebook ran in
        contract.META_ARTIFACT_SHA256: digest,
        contract.META_HAS_VALIDATOR: contract.VALIDATOR in report.callables,
        contract.META_HAS_BATCH: contract.BATCH_PREDICTOR in report.callables,
    }
    if contract.EXAMPLE in report.data:
        meta[contract.META_EXAMPLE] = report.data[contract.EXAMPLE]
    if contract.INPUT_SCHEMA in report.data:
        meta[contract.META_INPUT_SCHEMA] = report.data[contract.INPUT_SCHEMA]
    if "example_prediction" in report.checked:
        meta[contract.META_EXAMPLE_PREDICTION] = report.checked["example_prediction"]
    if "reference" in report.checked:
        meta[contract.META_REFERENCE] = {k: v for k, v in report.checked["reference"].items() if k != "why"}
    elif "reference_off" in report.checked:
        meta["reference_off"] = report.checked["reference_off"]
    return meta


def requirement_facts(found: Declared, relaxed: list[Relaxed], build_packages: list[str],
                      added: list[Requirement] = ()) -> dict:
    """Where the requirements came from: inferred names, packages added for undeclared imports, the
    lock file, pins relaxed (and what was installed)."""
    installed = {canonicalize_name(p.split("==")[0]): p.split("==", 1)[-1] for p in build_packages}
    facts: dict = {}
    if found.inferred:
        facts["inferred_requirements"] = found.inferred
    if added:
        facts["added_for_imports"] = [{"name": r.text, "installed": installed.get(r.name), "because": r.origin}
                                      for r in added]
    if found.locked_by:
        facts["locked_by"] = found.locked_by
    if relaxed:
        facts["relaxed_pins"] = [{"name": r.name, "pinned": r.pinned, "installed_as": r.relaxed,
                                  "installed": installed.get(r.name), "declared_in": r.origin} for r in relaxed]
    return facts


def write_json(path: Path, value: dict) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def executed_notebook(nb: nbformat.NotebookNode, report: Report) -> nbformat.NotebookNode:
    """The notebook with the build's outputs in place of the saved ones, as Jupyter would show them:
    streams, display() outputs, figures, and each cell's result (Out[n])."""
    nb = copy.deepcopy(nb)
    for position, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code":
            continue
        recorded = report.outputs.get(str(position), {})
        cell.execution_count = recorded.get("execution_count")
        cell.outputs = [nbformat.from_dict(output) for output in recorded.get("outputs", [])]
    return nb
