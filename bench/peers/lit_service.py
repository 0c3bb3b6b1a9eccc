"""The model file as a LitServe API, as LitServe's docs write one, on the CPU with two workers:
`python lit_service.py PORT`. MODEL_FILE names the joblib file."""
import os
import sys

import joblib
import litserve as ls


class KMeansAPI(ls.LitAPI):
    def setup(self, device):
        self.model = joblib.load(os.environ["MODEL_FILE"])

    def decode_request(self, request):
        return request["input"]

    def predict(self, sample):
        cluster = self.model.predict([sample])[0]
        return self.model.cluster_centers_[cluster].tolist()

    def encode_response(self, output):
        return {"prediction": output}


if __name__ == "__main__":
    ls.LitServer(KMeansAPI(), accelerator="cpu", workers_per_device=2).run(port=int(sys.argv[1]), generate_client_file=False)
