"""The prototype's way, for comparison: the same plain Flask app as plain_flask.py (the
notebook's functions, JSON only; the prototype unpickled request bodies, which nothing here
does), behind Flask's development server. Args: OUT PORT."""
import os
import sys

os.environ["MODEL_DIR"] = sys.argv[1]
from plain_flask import app  # noqa: E402  (reads MODEL_DIR at import)

app.run(host="127.0.0.1", port=int(sys.argv[2]), threaded=True)
