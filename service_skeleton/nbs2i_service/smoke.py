"""`python -m nbs2i_service.smoke MODEL_DIR`: load the model as the service would, run `example`.

Prints the example's answer as JSON (nothing without an example); exits 1 with the reason.
"""
from __future__ import annotations

import sys
import traceback

from . import encode
from .config import load_config
from .contract import META_EXAMPLE
from .errors import ServiceError
from .model import SampleRejected, load_model


def main(argv: list[str]) -> int:
    model_dir = argv[1]
    try:
        model = load_model(model_dir, load_config().signing_key)
    except ServiceError as exc:
        print(f"loading the model: {exc}", file=sys.stderr)
        return 1
    if META_EXAMPLE not in model.metadata:
        return 0
    example = model.metadata[META_EXAMPLE]
    try:
        prediction = model.predict(example)
    except SampleRejected as exc:
        print(f"the notebook's own example was rejected: {exc.message}. Fix validator/input_schema "
              "or example so they agree.", file=sys.stderr)
        return 1
    except Exception:
        print("predictor(example) raised:\n" + traceback.format_exc(), file=sys.stderr)
        return 1
    try:
        body = encode.dumps({"prediction": prediction})
    except TypeError as exc:
        print(f"predictor(example) returned a value that is not JSON: {exc}. Return lists, dicts, "
              "strings, numbers (numpy and pandas values are converted).", file=sys.stderr)
        return 1
    print(body.decode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
