"""The prototype's way, for comparison: the notebook's functions behind Flask's development
server (JSON only; the prototype unpickled request bodies, which nothing here does)."""
import sys

from flask import Flask, jsonify, request
from nbs2i_service.encode import to_jsonable
from nbs2i_service.model import load_model

model = load_model(sys.argv[1])
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


app.run(host="127.0.0.1", port=int(sys.argv[2]), threaded=True)
