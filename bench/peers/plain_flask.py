"""The way a data scientist serves a model by hand: the estimator's file in a plain Flask app,
under gunicorn (`gunicorn -w 2 --preload plain_flask:app`) or Flask's development server
(`python plain_flask.py PORT`, the prototype's way). MODEL_FILE names the joblib file."""
import os
import sys

import joblib
from flask import Flask, jsonify, request

model = joblib.load(os.environ["MODEL_FILE"])
app = Flask(__name__)


@app.get("/ping")
def ping():
    return "ok"


@app.post("/predict")
def predict():
    sample = request.get_json()
    cluster = model.predict([sample])[0]
    return jsonify(prediction=model.cluster_centers_[cluster].tolist())


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]), threaded=True)
