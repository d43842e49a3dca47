"""gunicorn workers whose own answers are JSON, and whose reads from a client are bounded in time.

gunicorn answers some requests itself, before Django sees them: malformed HTTP (400, 414, 431) and
a request cut off by the worker timeout. Its stock answer is an HTML page; these workers send the
API's error shape instead.

The threaded worker (the default, ``gunicorn.conf.py``) also bounds every blocking read from a
client socket by the worker timeout: gunicorn's ``gthread`` worker waits for a request's first bytes
with a timeout but reads the rest without one, so a client that stops in the middle of its body
would hold a thread until it disconnects. Here the read fails after ``timeout`` seconds, and the
API answers ``408`` (``contacts.errors``).
"""

import contextlib
import json
import socket
from collections.abc import Iterator

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker

TIMED_OUT = (503, "Service Unavailable", "The request did not complete within the worker timeout.")


@contextlib.contextmanager
def _json_error_pages(*, timed_out: bool) -> Iterator[None]:
    """Swap gunicorn's HTML error writer for a JSON one while one error is answered."""
    html_writer = util.write_error

    def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
        if timed_out:
            status_int, reason, mesg = TIMED_OUT
        code = reason.lower().replace(" ", "_")
        body = json.dumps({"detail": mesg or reason, "code": code}).encode()
        head = (
            f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        )
        if timed_out:
            head += "Retry-After: 1\r\n"
        util.write_nonblock(sock, head.encode("latin1") + b"\r\n" + body)

    util.write_error = write_json_error
    try:
        yield
    finally:
        util.write_error = html_writer


class JSONErrors:
    """Mixin for gunicorn workers: their own error answers in the API's JSON shape."""

    def handle_error(self, req, client, addr, exc) -> None:
        # The master aborts a worker past its timeout: SystemExit raised in the middle of a request.
        with _json_error_pages(timed_out=isinstance(exc, SystemExit)):
            super().handle_error(req, client, addr, exc)


class JSONErrorSyncWorker(JSONErrors, SyncWorker):
    """One request at a time per process; a stuck request is ended by the worker timeout."""


class _BoundedSocket(socket.socket):
    """A client socket whose "blocking" mode is a timeout: no read or write waits forever."""

    read_timeout: float

    def setblocking(self, flag: bool) -> None:
        if flag:
            self.settimeout(self.read_timeout)
        else:
            super().setblocking(False)


class JSONErrorThreadWorker(JSONErrors, ThreadWorker):
    """Threads sharing a process (keep-alive connections); reads bounded by the worker timeout."""

    def enqueue_req(self, conn) -> None:
        if not isinstance(conn.sock, _BoundedSocket):
            plain = conn.sock
            bounded = _BoundedSocket(plain.family, plain.type, plain.proto, fileno=plain.detach())
            bounded.read_timeout = self.cfg.timeout
            bounded.setblocking(False)
            conn.sock = bounded
        super().enqueue_req(conn)
