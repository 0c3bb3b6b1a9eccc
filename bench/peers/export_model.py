"""Writes the scikit-learn estimator a built nbs2i model closes over to TARGET/model.joblib, the
one model file every peer serves, and TARGET/expected.json: what each kind of server answers
for SAMPLE (the label scikit-learn's predict gives, and the cluster centre nbs2i's predictor
gives). Runs in OUT/venv, which loads the artifact with its checks. Args: OUT NAME TARGET SAMPLE."""
import json
import sys
from pathlib import Path

import joblib
from nbs2i_service.model import load_model

out, name, target, sample = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), json.loads(sys.argv[4])
model = load_model(out)
estimator = model.predictor.__globals__[name]
target.mkdir(parents=True, exist_ok=True)
joblib.dump(estimator, target / "model.joblib")
label = int(estimator.predict([sample])[0])
expected = {"label": label, "centre": estimator.cluster_centers_[label].tolist(),
            "nbs2i": json.loads(json.dumps(model.predictor(sample), default=lambda v: v.tolist()))}
(target / "expected.json").write_text(json.dumps(expected))
print(json.dumps(expected))
