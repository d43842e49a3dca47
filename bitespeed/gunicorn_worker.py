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

import json
import socket
import threading

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker

TIMED_OUT = (503, "Service Unavailable", "The request did not complete within the worker timeout.")


# Whether the error the current thread is answering is the worker timeout's. Per thread: the
# threads of a gthread worker answer their errors at the same time.
_answering = threading.local()


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's ``util.write_error``, in the API's error shape."""
    timed_out = getattr(_answering, "timed_out", False)
    if timed_out:
        status_int, reason, mesg = TIMED_OUT
    # Imported here: the worker module is loaded before Django; errors are written after it is.
    from contacts.serializers import error_body

    code = reason.lower().replace(" ", "_")
    body = json.dumps(error_body(detail=mesg or reason, code=code)).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    )
    if timed_out:
        head += "Retry-After: 1\r\n"
    util.write_nonblock(sock, head.encode("latin1") + b"\r\n" + body)


class JSONErrors:
    """Mixin for gunicorn workers: their own error answers in the API's JSON shape.

    gunicorn writes them through the module function ``util.write_error``; each worker process
    replaces it once, before it serves (swapping it around each error raced between threads).
    """

    def init_process(self) -> None:
        util.write_error = write_json_error
        super().init_process()

    def handle_error(self, req, client, addr, exc) -> None:
        # The master aborts a worker past its timeout: SystemExit raised in the middle of a request.
        _answering.timed_out = isinstance(exc, SystemExit)
        try:
            super().handle_error(req, client, addr, exc)
        finally:
            _answering.timed_out = False


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
