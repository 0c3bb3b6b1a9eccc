"""The model file as a BentoML service, as BentoML's docs write one: `bentoml serve
bento_service:KMeans --port PORT`, two workers. MODEL_FILE names the joblib file."""
import os

import bentoml
import joblib


@bentoml.service(workers=2)
class KMeans:
    def __init__(self) -> None:
        self.model = joblib.load(os.environ["MODEL_FILE"])

    @bentoml.api
    def predict(self, sample: list[float]) -> list[float]:
        cluster = self.model.predict([sample])[0]
        return self.model.cluster_centers_[cluster].tolist()
