"""Saves the scikit-learn object a built nbs2i model closes over as an MLflow model, so
MLflow's scoring server serves exactly the same estimator. Runs in the MLflow venv.
Args: OUT NAME_OF_GLOBAL TARGET_DIR."""
import json
import sys
from pathlib import Path

import cloudpickle
import mlflow.sklearn

out, name, target = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
objects = cloudpickle.loads((out / "model" / "model.pkl").read_bytes())  # our own build's artifact
estimator = objects["predictor"].__globals__[name]
# The estimator came from our own verified build; MLflow's default (skops) refuses tree
# models unless their types are listed, so save it the way MLflow 2 did, with cloudpickle.
mlflow.sklearn.save_model(estimator, target, serialization_format="cloudpickle")
print(json.dumps({"saved": type(estimator).__name__}))
