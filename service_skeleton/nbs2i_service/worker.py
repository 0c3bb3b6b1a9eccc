"""The default gunicorn worker: gevent, with the request buffered before the app sees it.

A sync worker is held by one connection from its first byte to its last, so a few clients
that send half a request stall the whole service (gunicorn's docs ask for a buffering
proxy in front; our images have none). Here every connection is a greenlet:

- a new connection waits up to NBS2I_CLIENT_TIMEOUT for its first byte, an idle
  keep-alive connection `keepalive` seconds for its next request; then it closes quietly;
- once a request's first byte arrives, its head and whole body must arrive within
  NBS2I_CLIENT_TIMEOUT seconds, else 408 and the connection closes;
- the body is read here, held to NBS2I_MAX_REQUEST_BYTES whatever its framing (413 for a
  Content-Length or a chunked body over it, never a truncated body; 400 for a body that
  ends before its Content-Length or its last chunk), and handed to the app from memory, so
  the app and the model never wait on a client;
- what gunicorn refuses before the app (bad request line, headers, chunk framing: 400,
  414, 431, 501...) answers with the service's JSON error document, not gunicorn's HTML;
  every refusal is counted in the metrics and written to the access log like an answer.

The standard library is patched for gevent in gunicorn's master (setup), before the model
is loaded there: a notebook's `from time import sleep`, or a client library's socket made at
load, would otherwise keep the blocking originals and hold the whole worker. A predictor that
waits (on a socket, a sleep) longer than NBS2I_PREDICT_TIMEOUT is abandoned with 504; one that
computes that long blocks the worker's heartbeat, and gunicorn's arbiter replaces the worker,
as with the sync worker.
"""
from __future__ import annotations

import io
import signal
import socket
import warnings
from http.client import responses
from time import perf_counter

import gevent
from gevent import monkey
from gevent.socket import wait_read
from gunicorn import http as gunicorn_http
from gunicorn.http import errors as parse_errors
from gunicorn.workers.ggevent import GeventWorker

from . import http
from .config import load_config
from .errors import RequestError

_LINGER_BYTES = 1024 * 1024
# gunicorn's refusals and the status each gets (anything else a ParseException raises is a 400).
_REFUSALS = ((parse_errors.LimitRequestLine, 414, "uri_too_long"),
             (parse_errors.LimitRequestHeaders, 431, "request_header_fields_too_large"),
             (parse_errors.UnsupportedTransferCoding, 501, "not_implemented"),
             (parse_errors.ExpectationFailed, 417, "expectation_failed"),
             (parse_errors.ForbiddenProxyRequest, 403, "forbidden"))


class _Refused(BaseException):
    """An answer the worker gives instead of the app's. A BaseException, like gevent.Timeout's
    own, so that the app's `except Exception` (a predictor's failure) never takes it for one."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class Worker(GeventWorker):
    @classmethod
    def setup(cls) -> None:
        """Run by gunicorn's master when it loads the worker class, before preload_app loads the model.
        Not os, signal and subprocess: the arbiter forks and reaps its workers with the originals
        (gevent's SIGCHLD handling runs only in its event loop, which the arbiter's wait never
        enters); each worker patches those too once forked (GeventWorker.patch)."""
        monkey.patch_all(os=False, signal=False, subprocess=False)

    def patch(self) -> None:
        with warnings.catch_warnings():  # the rest of patch_all, on top of the master's: as meant
            warnings.simplefilter("ignore", monkey.MonkeyPatchWarning)
            super().patch()

    def init_process(self) -> None:
        # The handlers the worker inherits from the master do nothing here, and gevent's
        # patching runs before gunicorn installs the worker's own: a SIGTERM that arrives
        # while the worker boots would be lost, and shutdown would wait the whole
        # graceful timeout. Until then, TERM and INT mean: do not start serving.
        signal.signal(signal.SIGTERM, self._quit_early)
        signal.signal(signal.SIGINT, self._quit_early)
        super().init_process()

    def _quit_early(self, signum, frame) -> None:
        self.alive = False

    def handle_exit(self, sig, frame) -> None:
        """SIGTERM: HTTP drains (gunicorn), and the worker's gRPC server stops taking calls now too
        (its health turns NOT_SERVING), so both finish within the one graceful timeout."""
        super().handle_exit(sig, frame)
        running = getattr(self, "nbs2i_grpc", None)
        if running is not None:
            gevent.spawn(running.stop, self.cfg.graceful_timeout)

    def load_wsgi(self) -> None:
        super().load_wsgi()
        config = load_config()
        self.client_timeout = config.client_timeout
        self.predict_timeout = config.predict_timeout
        self.slow = (f"No answer within {config.predict_timeout} s (NBS2I_PREDICT_TIMEOUT): the predictor is waiting "
                     "on something; the request was abandoned.")
        self.late = (f"The request did not arrive within {config.client_timeout:g} s (NBS2I_CLIENT_TIMEOUT); "
                     "send the head and body at once.")
        self.max_body = config.max_request_bytes
        gather = getattr(self.wsgi, "gather", None)
        if gather is not None:
            gather(config.max_batch, config.batch_wait_ms / 1000)

    def handle(self, listener, client, addr) -> None:
        client.setblocking(1)
        parser = gunicorn_http.RequestParser(self.cfg, client, addr)
        listener_name = listener.getsockname()
        req, is_head, idle = None, False, self.client_timeout  # a new connection's first request
        started = perf_counter()
        try:
            while self.alive:
                req = None
                if not _buffered(parser):
                    wait_read(client.fileno(), timeout=idle)
                    # A HEAD refused before its request line is parsed must still get no body.
                    is_head = client.recv(5, socket.MSG_PEEK) == b"HEAD "
                started = perf_counter()
                with gevent.Timeout(self.client_timeout, _Refused(408, "request_timeout", self.late)):
                    req = next(parser)
                    body = self._body(req, client)
                req.body = io.BytesIO(body)
                with gevent.Timeout(self.predict_timeout, _Refused(504, "prediction_timeout", self.slow)):
                    if self.handle_request(listener_name, req, client, addr) is False:
                        break  # the app took the socket over
                idle = self.cfg.keepalive  # between requests: keep-alive's wait (0: gunicorn closed it)
        except (StopIteration, parse_errors.NoMoreData, socket.timeout, TimeoutError):
            pass  # the client closed, or an idle keep-alive connection timed out
        except _Refused as exc:
            self._refuse(client, addr, req, exc, is_head, started)
        except parse_errors.ParseException as exc:
            status, code = next(((s, c) for kind, s, c in _REFUSALS if isinstance(exc, kind)), (400, "bad_request"))
            # repr: the client's bytes (a request line, a header) cannot start a log line of their own
            self.log.warning("Invalid request from ip=%s: %r", addr[0] if addr else "", str(exc))
            self._refuse(client, addr, req or getattr(exc, "req", None),
                         _Refused(status, code, f"{responses[status]}: {exc}."), is_head, started)
        except OSError:
            pass  # reset or broken pipe: nobody is left to answer
        except Exception:
            self.log.exception("Error handling request")
            self._refuse(client, addr, req, _Refused(500, "internal_error", "The service failed (see the service log)."),
                         is_head, started)
        finally:
            try:
                client.close()
            except OSError:
                pass

    def _body(self, req, client) -> bytes:
        """The whole body, within the size limit whatever its framing (http.bounded_body)."""
        length = http.declared_length(next((value for name, value in req.headers if name == "CONTENT-LENGTH"), None))
        if length is not None and length > self.max_body:
            raise _refusal(http.too_large(self.max_body))
        if getattr(req, "_expected_100_continue", False):
            client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            req._expected_100_continue = False
        try:
            return http.bounded_body(req.body.read, length, self.max_body)
        except RequestError as exc:
            raise _refusal(exc) from None
        except parse_errors.NoMoreData:  # the client closed before a chunked body's last chunk
            raise _refusal(http.truncated(0, None)) from None

    def _refuse(self, client, addr, req, refusal: _Refused, is_head: bool, started: float) -> None:
        """Answer a request the app never saw (or gave up on) with the JSON error document, count
        it and log it like an answer, and close."""
        given = next((value for name, value in getattr(req, "headers", ()) if name == "X-REQUEST-ID"), None)
        rid = http.request_id(given)
        body = http.error_document(refusal.code, refusal.message, rid)
        headers = http.json_headers(refusal.status, rid, len(body)) + [("Connection", "close")]
        lines = f"HTTP/1.1 {refusal.status} {responses[refusal.status]}\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
        method, path = getattr(req, "method", None), getattr(req, "path", None)
        if is_head or method == "HEAD":
            body = b""
        try:
            client.sendall(lines.encode("latin-1") + body)
            _linger(client)
        except OSError:
            pass
        seconds = perf_counter() - started
        self.wsgi.refused(path, method, refusal.status, seconds)
        self.log.record(addr[0] if addr else "-", method or "-", getattr(req, "uri", None) or path or "",
                        refusal.status, len(body), int(seconds * 1_000_000), rid)


def _refusal(error: RequestError) -> _Refused:
    return _Refused(error.status, error.code, error.message)


def _linger(client) -> None:
    """Close gently: stop sending, then drain what the client still sends (briefly), so the
    kernel does not answer the unread bytes with a reset that destroys our answer in flight."""
    client.shutdown(socket.SHUT_WR)
    with gevent.Timeout(1, False):
        drained = 0
        while drained < _LINGER_BYTES:
            part = client.recv(http.BODY_CHUNK)
            if not part:
                break
            drained += len(part)


def _buffered(parser) -> bool:
    """Bytes of the next request already read (pipelined behind the last one)."""
    with parser.unreader.buf.getbuffer() as view:
        return view.nbytes > 0
