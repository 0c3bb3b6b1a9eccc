"""The naive way nbs2i replaces: the notebook's functions in a plain Flask app under gunicorn
(sync workers, preloaded), as a data scientist would write it by hand. MODEL_DIR names the
build's model folder; the app reads it with the same loader."""
import os

from flask import Flask, jsonify, request
from nbs2i_service.encode import to_jsonable
from nbs2i_service.model import load_model

model = load_model(os.environ["MODEL_DIR"])
app = Flask(__name__)


@app.get("/ping")
def ping():
    return "ok"


@app.post("/predict")
def predict():
    sample = request.get_json()
    if model.validator is not None and not model.validator(sample):
        return jsonify(error="rejected"), 422
    return jsonify(prediction=to_jsonable(model.predictor(sample)))
