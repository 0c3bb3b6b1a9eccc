"""The peers' own environments: each server a user would pick instead of nbs2i, installed as its
docs say into a venv of its own, beside the scikit-learn and numpy the model was trained with
(the model file must load the same everywhere)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

# MLServer 1.7.1 does not start with uvloop 0.22 (its open issue 2286).
PACKAGES = {"mlserver": ["mlserver", "mlserver-sklearn", "uvloop<0.22"], "bentoml": ["bentoml"],
            "litserve": ["litserve"], "mlflow": ["mlflow"], "mlflow-spark": ["mlflow", "pyspark", "pandas", "pyarrow"], "flask": ["flask", "gunicorn"]}
MODEL_PACKAGES = ("scikit-learn", "numpy", "scipy", "joblib", "threadpoolctl")


def model_pins(out: Path) -> list[str]:
    """The versions of the model's own packages in OUT/venv (metadata.json `packages`)."""
    packages = json.loads((out / "model" / "metadata.json").read_text())["packages"]
    return [p for p in packages if p.split("==")[0].lower() in MODEL_PACKAGES]


def make(work: Path, name: str, pins: list[str]) -> Path:
    """work/peer-NAME with the peer and the model's pins; reused when it already holds them."""
    venv = work / f"peer-{name}"
    wanted = sorted(PACKAGES[name] + pins)
    stamp = venv / "nbs2i-bench.json"
    if stamp.exists() and json.loads(stamp.read_text()) == wanted:
        return venv
    subprocess.run(["uv", "venv", "-q", "--allow-existing", str(venv)], check=True)
    subprocess.run(["uv", "pip", "install", "-q", "--python", str(venv / "bin" / "python"), *wanted], check=True)
    stamp.write_text(json.dumps(wanted))
    return venv


def version(venv: Path, package: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({package!r}))"
    return subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True).stdout.strip()
