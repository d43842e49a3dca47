"""gunicorn workers whose own answers are JSON, and whose threads never wait for a client.

gunicorn answers some requests itself, before Django sees them: malformed HTTP (400, 414, 431) and
a request cut off by the worker timeout. Its stock answer is an HTML page; these workers send the
API's error shape instead.

The threaded worker (the default, ``gunicorn.conf.py``) reads every request whole before a thread
sees it. gunicorn's ``gthread`` worker gives a connection to a thread as soon as it has data, and
the thread reads the request from the socket: a client that sends its request slowly (a byte every
few seconds restarts every read timeout) or opens a connection and sends nothing holds one of the
few threads, and a few tens of such sockets stop the service. Here the main thread's poller reads
each connection, non-blocking, into a buffer until ``RequestFramer`` (``bitespeed.request_framing``)
says it holds one whole
request (RFC 9112 section 6: a header section, then a ``Content-Length`` or chunked body); only
then does gunicorn's parser get the bytes, from memory, and a thread serve them. Reading a request
has one deadline, ``request_read_timeout`` seconds after the connection opens (or, on a kept-alive
connection, after the next request's first byte; the idle wait before it is gunicorn's
``keepalive``), which no byte restarts. The worker answers its own limits: ``431`` for a header
section over ``MAX_HEAD_BYTES``, ``413`` for a body over the largest the application accepts
(declared or growing, before reading it), ``408`` for a request unfinished at its deadline.
gunicorn's parser still validates everything else and answers malformed requests itself.
docs/operations.md, "Slow and idle clients".
"""

import contextlib
import errno
import heapq
import itertools
import json
import re
import resource
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from http import HTTPStatus

from gunicorn import http, util
from gunicorn.http.body import DEFAULT_MAX_CHUNK_SIZE_LINE
from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER, TConn, ThreadWorker
from gunicorn.workers.sync import SyncWorker

from bitespeed.request_framing import Framing, RequestFramer

TIMED_OUT = (503, "Service Unavailable", "The request did not complete within the worker timeout.")

# The largest header section the threaded worker reads: nginx's default for a request's headers
# (large_client_header_buffers 4 8k). Larger gets 431.
MAX_HEAD_BYTES = 32 * 1024
# One read from a client socket.
RECV_BYTES = 64 * 1024
# After its answer, a connection being closed is read (and what it sends dropped) for this long
# and this much at most, so that the client reads the answer before the close (RFC 9112 section
# 9.6): closing with unread bytes would reset the connection.
LINGER_SECONDS = 2.0
LINGER_MAX_BYTES = 1024 * 1024
# File descriptors a worker needs besides its clients' connections: database connections, log and
# heartbeat files, the listeners, the poller.
SPARE_FILES = 256

# Whether the error the current thread is answering is the worker timeout's. Per thread: the
# threads of a gthread worker answer their errors at the same time.
_answering = threading.local()


def json_error_response(
    *, status: int, code: str, detail: str, reason: str | None = None, retry_after: int = 0
) -> bytes:
    """A whole HTTP/1.1 error response in the API's error shape, closing the connection."""
    # Imported here: the worker module is loaded before Django; errors are written after it is.
    from contacts.serializers import error_body

    body = json.dumps(error_body(detail=detail, code=code)).encode()
    head = (
        f"HTTP/1.1 {status} {reason or HTTPStatus(status).phrase}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    )
    if retry_after:
        head += f"Retry-After: {retry_after}\r\n"
    return head.encode("latin1") + b"\r\n" + body


def without_echo(mesg: str) -> str:
    """gunicorn's message without the part of the request it quotes (``Invalid Request Line
    'GET /?email=…'``): an answer never repeats what the client sent, which may be personal data
    (docs/privacy.md)."""
    return re.split(r"""['"]""", mesg, maxsplit=1)[0].strip().rstrip(":").strip()


def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's ``util.write_error``, in the API's error shape."""
    timed_out = getattr(_answering, "timed_out", False)
    if timed_out:
        status_int, reason, mesg = TIMED_OUT
    response = json_error_response(
        status=status_int,
        reason=reason,
        code=reason.lower().replace(" ", "_"),
        detail=without_echo(mesg) or reason,
        retry_after=1 if timed_out else 0,
    )
    util.write_nonblock(sock, response)


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


# --- The threaded worker --------------------------------------------------------------------------


class _BoundedSocket(socket.socket):
    """A client socket whose "blocking" mode is a timeout: no read or write waits forever."""

    read_timeout: float

    def setblocking(self, flag: bool) -> None:
        if flag:
            self.settimeout(self.read_timeout)
        else:
            super().setblocking(False)


@dataclass(eq=False, kw_only=True)
class _Watched:
    """A connection the main thread's poller reads, until ``deadline``."""

    conn: TConn
    deadline: float
    active: bool = True


@dataclass(eq=False, kw_only=True)
class _Reading(_Watched):
    """A connection whose next request is being read."""

    framer: RequestFramer
    kept_alive: bool
    """Its deadline is the keep-alive idle wait until the request's first byte."""
    received: bool = False
    continued: bool = False
    """``100 Continue`` was sent."""


@dataclass(eq=False, kw_only=True)
class _Closing(_Watched):
    """A connection answered and half-closed, read until the client closes it too."""

    drained: int = 0


class JSONErrorThreadWorker(JSONErrors, ThreadWorker):
    """Threads sharing a process (keep-alive connections), each given only whole requests.

    The main thread accepts connections and reads their requests (``_Reading``), answers the
    limits, and closes connections once their client has read the answer (``_Closing``); every
    such connection has a deadline, kept in a heap and swept at every turn of gunicorn's loop, which
    wakes up for the next one. At ``worker_connections``, the oldest connection that has not sent a
    byte is closed to make room for a new one.
    """

    body_cap: Callable[[str], int]
    """A path's largest request body (``contacts.middleware.body_cap``), set by ``run``."""
    request_read_timeout: float = 5.0
    """Seconds to read a whole request; ``gunicorn.conf.py`` sets it (``post_fork``)."""

    @classmethod
    def check_config(cls, cfg, log) -> None:
        super().check_config(cfg, log)
        if cfg.is_ssl or cfg.protocol != "http" or cfg.proxy_protocol != "off":
            raise RuntimeError(f"{cls.__name__} reads plain HTTP/1.1 only: no TLS, uwsgi or PROXY")
        if "h2" in cfg.http_protocols:
            raise RuntimeError(f"{cls.__name__} reads HTTP/1.1 only: set http_protocols to h1")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._deadlines: list[tuple[float, int, _Watched]] = []
        self._order = itertools.count()
        # Connections without a byte of their next request, oldest first.
        self._idle: dict[_Reading, None] = {}

    def run(self) -> None:
        # Imported once the application is loaded: the caps are Django settings.
        from contacts.middleware import body_cap

        self.body_cap = body_cap
        self._fit_open_files()
        super().run()

    def _fit_open_files(self) -> None:
        """Raise the process's open-file limit to hold ``worker_connections`` (systemd's default
        soft limit is 1024), or lower the connections to fit: running out of files in ``accept``
        would stop the worker."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        needed = self.worker_connections + SPARE_FILES
        if soft == resource.RLIM_INFINITY or soft >= needed:
            return
        raised = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        with contextlib.suppress(OSError, ValueError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
            soft = raised
        if soft < needed:
            self.worker_connections = max(soft - SPARE_FILES, self.cfg.threads)
            self.log.warning(
                "Open files limited to %s: %s connections per worker", soft, self.worker_connections
            )

    # gunicorn's hooks: accept, a finished request, the deadlines ---------------------------------

    def accept(self, listener: socket.socket) -> None:
        try:
            plain, client = listener.accept()
        except OSError as error:
            if error.errno in (errno.EMFILE, errno.ENFILE):
                self._evict_idle()
            elif error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        sock = _BoundedSocket(plain.family, plain.type, plain.proto, fileno=plain.detach())
        sock.read_timeout = self.cfg.timeout
        conn = TConn(self.cfg, sock, client, listener.getsockname())
        self._read_request(conn, data=b"", kept_alive=False)

    def finish_request(self, conn: TConn, fs) -> None:
        """After an answer: read the connection's next request, or close it without blocking."""
        try:
            keep_alive = not fs.cancelled() and bool(fs.result())
        except Exception:
            keep_alive = False
        if keep_alive:
            # Bytes the parser read past the request (pipelining) start the next one.
            self._read_request(conn, data=conn.parser.unreader.take_buffered(), kept_alive=True)
        else:
            self._close_after_answer(conn)

    def handle_request(self, req, conn: TConn) -> bool:
        # The body is in memory: the main thread sent "100 Continue" when the client waited for it.
        req._expected_100_continue = False
        return super().handle_request(req, conn)

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        """Wake up for the next deadline too, not only once a second."""
        if self._deadlines:
            timeout = min(timeout, max(0.0, self._deadlines[0][0] - time.monotonic()))
        super().wait_for_and_dispatch_events(timeout)

    def murder_keepalived(self, force: bool = False) -> None:
        """End the connections past their deadline (every one when ``force``), then make room."""
        now = time.monotonic()
        while self._deadlines and (force or self._deadlines[0][0] <= now):
            _, _, watched = heapq.heappop(self._deadlines)
            if watched.active and (force or watched.deadline <= now):
                self._expire(watched)
        while self.nr_conns >= self.worker_connections and self._idle:
            self._evict_idle()

    def _cap_keepalive(self, deadline: float) -> None:
        """A stopping worker reads requests still on their way until ``deadline`` at the latest."""
        for _, _, watched in list(self._deadlines):
            if watched.active and watched.deadline > deadline:
                self._set_deadline(watched, deadline)

    # Reading a request ----------------------------------------------------------------------------

    def _read_request(self, conn: TConn, *, data: bytes, kept_alive: bool) -> None:
        wait = self.cfg.keepalive if kept_alive else self.request_read_timeout
        if not self.alive:
            wait = min(wait, STOP_KEEPALIVE_LINGER)
        framer = RequestFramer(
            max_head=MAX_HEAD_BYTES,
            body_cap=self.body_cap,
            max_chunk_line=self.cfg.limit_request_field_size or DEFAULT_MAX_CHUNK_SIZE_LINE,
        )
        reading = _Reading(
            conn=conn, deadline=time.monotonic() + wait, framer=framer, kept_alive=kept_alive
        )
        if not self._watch(reading, self._on_request_bytes):
            return
        self._idle[reading] = None
        if data:
            self._received(reading, data)
        elif not kept_alive:
            # A new client has usually sent its request with the connection: read it now.
            self._on_request_bytes(reading, conn.sock)

    def _on_request_bytes(self, reading: _Reading, sock: socket.socket) -> None:
        data = self._recv(sock)
        if data is None:
            return
        if not data:
            self._unwatch(reading)
            self._close(reading.conn)
            return
        self._received(reading, data)

    def _received(self, reading: _Reading, data: bytes) -> None:
        if not reading.received:
            reading.received = True
            del self._idle[reading]
            if reading.kept_alive:
                self._set_deadline(reading, time.monotonic() + self.request_read_timeout)
        framing = reading.framer.feed(data)
        if framing is Framing.INCOMPLETE:
            if reading.framer.expects_continue and not reading.continued:
                reading.continued = True
                self._send(reading.conn, b"HTTP/1.1 100 Continue\r\n\r\n")
            return
        request = bytes(reading.framer.buffer)  # _unwatch clears the buffer
        self._unwatch(reading)
        if framing is Framing.READY:
            self._hand_over(reading.conn, request)
        elif framing is Framing.HEAD_TOO_LARGE:
            detail = f"The request's header section is larger than {MAX_HEAD_BYTES} bytes."
            self._refuse(
                reading.conn, status=431, code="request_header_fields_too_large", detail=detail
            )
        else:
            detail = f"The request body is larger than {reading.framer.max_body} bytes."
            self._refuse(reading.conn, status=413, code="payload_too_large", detail=detail)

    def _hand_over(self, conn: TConn, request: bytes) -> None:
        """Give the whole request to gunicorn's parser, in memory, and the connection to a
        thread."""
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
        conn.parser.unreader.unread(request)
        conn.data_ready = True
        self.enqueue_req(conn)

    def _expire(self, watched: _Watched) -> None:
        self._unwatch(watched)
        if isinstance(watched, _Reading) and watched.received:
            detail = f"The request did not arrive within {self.request_read_timeout:g} seconds."
            self._refuse(watched.conn, status=408, code="request_timeout", detail=detail)
        else:
            self._close(watched.conn)

    def _evict_idle(self) -> None:
        """Close the oldest connection that has not sent a byte, if there is one."""
        oldest = next(iter(self._idle), None)
        if oldest is not None:
            self._unwatch(oldest)
            self._close(oldest.conn)

    # Answering and closing ------------------------------------------------------------------------

    def _refuse(self, conn: TConn, *, status: int, code: str, detail: str) -> None:
        self.log.warning("Refused a request from %s: %s %s", conn.client, status, detail)
        self._send(conn, json_error_response(status=status, code=code, detail=detail))
        self._close_after_answer(conn)

    def _close_after_answer(self, conn: TConn) -> None:
        """Half-close, and drop what the client still sends until it closes (gunicorn's
        ``close_graceful``, without blocking the main thread)."""
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self._close(conn)
            return
        closing = _Closing(conn=conn, deadline=time.monotonic() + LINGER_SECONDS)
        self._watch(closing, self._on_closing_bytes)

    def _on_closing_bytes(self, closing: _Closing, sock: socket.socket) -> None:
        data = self._recv(sock)
        if data is None:
            return
        closing.drained += len(data)
        if not data or closing.drained > LINGER_MAX_BYTES:
            self._unwatch(closing)
            self._close(closing.conn)

    # The poller and the sockets -------------------------------------------------------------------

    def _watch(
        self, watched: _Watched, on_readable: Callable[[_Watched, socket.socket], None]
    ) -> bool:
        try:
            watched.conn.sock.setblocking(False)
            self.poller.register(
                watched.conn.sock, selectors.EVENT_READ, partial(on_readable, watched)
            )
        except (OSError, ValueError):
            self._close(watched.conn)
            return False
        self._set_deadline(watched, watched.deadline)
        return True

    def _unwatch(self, watched: _Watched) -> None:
        watched.active = False
        if isinstance(watched, _Reading):
            self._idle.pop(watched, None)
            # Its entry stays in the deadline heap until the deadline passes; its bytes need not.
            watched.framer.buffer.clear()
        with contextlib.suppress(KeyError, OSError, ValueError):
            self.poller.unregister(watched.conn.sock)

    def _set_deadline(self, watched: _Watched, deadline: float) -> None:
        watched.deadline = deadline
        heapq.heappush(self._deadlines, (deadline, next(self._order), watched))

    def _close(self, conn: TConn) -> None:
        util.close(conn.sock)
        self.nr_conns -= 1

    @staticmethod
    def _recv(sock: socket.socket) -> bytes | None:
        """What the client sent (``b""``: it closed the connection); ``None``: nothing yet."""
        try:
            return sock.recv(RECV_BYTES)
        except BlockingIOError:
            return None
        except OSError:
            return b""

    @staticmethod
    def _send(conn: TConn, data: bytes) -> None:
        """A short answer, without waiting: a client that does not read it loses it."""
        with contextlib.suppress(OSError):
            conn.sock.send(data)
