"""The model file as an MLflow model (the scikit-learn flavour), for MLflow's scoring server.
Runs in the MLflow venv. Args: MODEL_FILE TARGET_DIR."""
import sys

import joblib
import mlflow.sklearn

# MLflow's default serialization (skops) refuses estimators whose types are not listed; save
# it the way MLflow 2 did, with cloudpickle.
mlflow.sklearn.save_model(joblib.load(sys.argv[1]), sys.argv[2], serialization_format="cloudpickle")
