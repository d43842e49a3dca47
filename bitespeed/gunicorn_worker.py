"""A gunicorn sync worker whose own error answers are JSON, like every other answer of the API.

gunicorn answers some requests itself, before Django sees them: malformed HTTP (400, 414, 431) and
a request cut off by the worker timeout, such as one whose body never finishes arriving. Its stock
answer is an HTML page; this worker sends the API's error shape instead.
"""

import contextlib
import json
from collections.abc import Iterator

from gunicorn import util
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


class JSONErrorSyncWorker(SyncWorker):
    def handle_error(self, req, client, addr, exc) -> None:
        # The master aborts a worker past its timeout: SystemExit raised in the middle of a request.
        with _json_error_pages(timed_out=isinstance(exc, SystemExit)):
            super().handle_error(req, client, addr, exc)
