"""The HTTP floor: a WSGI app that answers a constant, under gunicorn's gevent worker with
keep-alive (as nbs2i serves) or its sync worker (which closes every connection)."""


def app(environ, start_response):
    environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
    return [b"{}"]
