"""The HTTP floor: a WSGI app that answers a constant, served by the same gunicorn."""


def app(environ, start_response):
    environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
    return [b"{}"]
