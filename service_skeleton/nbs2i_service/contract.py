"""What the builder and the service agree on: file names in OUT and metadata keys.

Defined here, on the service side, because the service runs where builder/ is absent;
builder/ imports these names from this module.
"""
from __future__ import annotations

from pathlib import Path

VENV_DIR = "venv"
MODEL_DIR = "model"
SERVICE_DIR = "service"

ARTIFACT_FILE = "model.pkl"
METADATA_FILE = "metadata.json"
EXECUTED_NOTEBOOK_FILE = "executed.ipynb"
OPENAPI_FILE = "openapi.json"
REFERENCE_FILE = "reference.json"  # the training data's profile (profile.py), never its rows
SIGNATURE_FILE = "model.sig"  # model-signing's bundle over every other file of OUT/model (signature.py)
SBOM_SERVED_FILE = "sbom-served.cdx.json"  # CycloneDX: what OUT/venv holds
SBOM_BUILD_FILE = "sbom-build.cdx.json"  # CycloneDX: the environment the notebook ran in
PROVENANCE_FILE = "provenance.intoto.json"  # in-toto statement, SLSA provenance, as a DSSE envelope when signed

# Names the notebook may define at top level (the notebook contract).
PREDICTOR = "predictor"
VALIDATOR = "validator"
BATCH_PREDICTOR = "batch_predictor"
EXAMPLE = "example"
INPUT_SCHEMA = "input_schema"
CALLABLES = (PREDICTOR, VALIDATOR, BATCH_PREDICTOR)

# A package installer's command line in a notebook (`!pip install x`, `%pip install x`,
# `!{sys.executable} -m pip install x`, `!conda install -y x`): pass 1 reads its packages as
# requirements, and the build's run of the notebook leaves it out. Groups: command, arguments.
INSTALL_COMMAND = (r"^(?:\S*python[\d.]*\s+-m\s+pip|\{sys\.executable\}\s+-m\s+pip|pip3?|conda|mamba|micromamba"
                   r"|uv\s+pip)\s+(install|uninstall)\b\s*(.*)$")

# metadata.json keys the service reads; the builder writes them all.
META_MODEL_NAME = "model_name"
META_BUILD_ID = "build_id"
META_ARTIFACT_SHA256 = "artifact_sha256"
META_PYTHON = "python_version"
META_HAS_VALIDATOR = "has_validator"
META_HAS_BATCH = "has_batch_predictor"
META_EXAMPLE = "example"
META_INPUT_SCHEMA = "input_schema"
# predictor(example) in the notebook's own run: the smoke test checks that OUT/venv answers the same,
# and V2's model metadata announces the output's datatype from it.
META_EXAMPLE_PREDICTION = "example_prediction"
# {"file", "sha256", "variable", "rows", "features", "prediction"}: the reference profile, checked at load
META_REFERENCE = "reference"
# Keys never served by /metadata (nothing secret is in metadata.json).
PRIVATE_META_KEYS: tuple[str, ...] = ()


def out_paths(out: Path) -> dict[str, Path]:
    """The three folders of a build output."""
    out = Path(out)
    return {"venv": out / VENV_DIR, "model": out / MODEL_DIR, "service": out / SERVICE_DIR}


def served_model_dir(configured: Path | None) -> Path:
    """The model a service in OUT/service loads: NBS2I_MODEL_DIR, else OUT/model beside it."""
    return configured or Path(__file__).resolve().parents[2] / MODEL_DIR
