"""Bills of materials: CycloneDX 1.6 JSON of an environment, every distribution in it.

Each component: its name, version, purl (pkg:pypi/...), licence where its metadata has one
(License-Expression, else a short License field, else the licence classifiers), and the
SHA-256 of its RECORD, the file that lists every file installed with the hash of each: one
hash that changes with anything installed. Two are written into OUT/model (and so covered by
the signature): the served environment (OUT/venv) and the build environment the notebook
ran in. `nbs2i verify` compares OUT/venv with the first.
"""
from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import quote

from . import __version__

SPEC = "1.6"


def purl(name: str, version: str) -> str:
    return f"pkg:pypi/{name.lower().replace('_', '-').replace('.', '-')}@{quote(version, safe='')}"


def _licenses(dist: dict) -> list[dict]:
    if dist["expression"]:
        return [{"expression": dist["expression"]}]
    names = [dist["license"]] if dist["license"] else dist["classifiers"]
    return [{"license": {"name": name}} for name in names]


def document(dists: list[dict], environment: str, model_name: str, build_id: str, python: str) -> dict:
    """The CycloneDX BOM of one environment ("served" or "build") of the model build_id."""
    components = []
    for dist in dists:
        ref = purl(dist["name"], dist["version"])
        component = {"type": "library", "bom-ref": ref, "name": dist["name"], "version": dist["version"], "purl": ref,
                     "hashes": [{"alg": "SHA-256", "content": dist["record_sha256"]}],
                     "properties": [{"name": "nbs2i:hash", "value": "SHA-256 of the installed RECORD"}]}
        licenses = _licenses(dist)
        if licenses:
            component["licenses"] = licenses
        components.append(component)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return {"bomFormat": "CycloneDX", "specVersion": SPEC, "serialNumber": f"urn:uuid:{uuid.uuid4()}", "version": 1,
            "metadata": {"timestamp": now,
                         "tools": {"components": [{"type": "application", "name": "nbs2i", "version": __version__}]},
                         "component": {"type": "application", "bom-ref": "model", "name": model_name, "version": build_id,
                                       "description": f"the {environment} environment of the model"},
                         "properties": [{"name": "nbs2i:environment", "value": environment},
                                        {"name": "nbs2i:python", "value": python}]},
            "components": components,
            "dependencies": [{"ref": "model", "dependsOn": [c["bom-ref"] for c in components]}]}


def listed(bom: dict) -> dict[str, tuple[str, str]]:
    """name (lower case) -> (version, RECORD hash) of every component of a BOM this module wrote."""
    return {c["name"].lower(): (c["version"], c["hashes"][0]["content"]) for c in bom.get("components", [])}
