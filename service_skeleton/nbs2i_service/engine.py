"""`OUT/venv/bin/python -m nbs2i_service.engine MODEL_DIR`: the model behind a pipe, for the engines
whose Python is not the model's (Spark's executors, Ray's workers; pipe.py is the other end).

It loads the model as every loader does (the signature with NBS2I_VERIFY_KEY_FILE or
NBS2I_VERIFY_CHAIN_FILE, then the checksum, before anything is unpickled) and says so in its
first frame (frames.py): {"ready": {the model's name, example, example_prediction, schema}},
or {"refused": why} and exit 3. Then it answers frames until its input closes. A request is a
chunk of JSON Lines, one sample a line; the answer is the lines `nbs2i score` writes for them,
in order (score.py: the same checks, the same batch_predictor call, the same error records,
their `line` counted within the chunk).
"""
from __future__ import annotations

import io
import sys

from . import encode, frames
from .config import ConfigError, load_config
from .contract import META_EXAMPLE, META_EXAMPLE_PREDICTION, META_INPUT_SCHEMA, META_MODEL_NAME
from .errors import REFUSED, ModelLoadError


def main(argv: list[str]) -> int:
    from . import score
    from .model import load_model

    source, sink = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a predictor's print() must not land in the frames
    try:
        config = load_config()
        model = load_model(argv[0], config.verify_key_file, verify_chain=config.verify_chain_file)
    except (ModelLoadError, ConfigError) as exc:
        frames.write(sink, encode.dumps({"refused": str(exc)}))
        return REFUSED
    meta = model.metadata
    frames.write(sink, encode.dumps({"ready": {key: meta.get(key) for key in (
        META_MODEL_NAME, META_EXAMPLE, META_EXAMPLE_PREDICTION, META_INPUT_SCHEMA)}}))
    while True:
        request = frames.read(source)
        if request is None:
            return 0
        chunk = list(score.samples(io.StringIO(request.decode("utf-8")), "jsonl"))
        frames.write(sink, b"".join(score.answer_line(answer) for answer in score.score_chunk(model, chunk)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
