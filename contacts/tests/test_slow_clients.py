"""Slow and idle clients hold no thread (issue 14): a real gunicorn started with gunicorn.conf.py,
one worker of two threads, keeps answering ordinary requests in under a second while tens of
sockets trickle their requests or hundreds stay idle; the worker answers its own limits (408,
413, 431) at once, and still serves chunked, pipelined and ``Expect: 100-continue`` requests.

The framing that decides when a request is whole (``bitespeed.request_framing.RequestFramer``) is
tested on its own first.
"""

import contextlib
import json
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.db import connection

from bitespeed.gunicorn_worker import MAX_HEAD_BYTES
from bitespeed.request_framing import Framing, RequestFramer
from contacts.tests.live_gunicorn import (
    Server,
    database_url,
    migrated_sqlite,
    post,
    start_gunicorn,
    stop_gunicorn,
)

READ_TIMEOUT_SECONDS = 3
ORDINARY_SECONDS = 1.0
# The worker's cap for the API's paths (the admin's is Django's DATA_UPLOAD_MAX_MEMORY_SIZE).
MAX_BODY = settings.API_MAX_BODY_BYTES
HEAD = b"POST /identify/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
BODY = json.dumps({"email": "piped@example.com", "phoneNumber": "5550123"}).encode()


# --- Framing ------------------------------------------------------------------------------------


def framer(*, max_body: int = 100) -> RequestFramer:
    return RequestFramer(max_head=200, body_cap=lambda target: max_body, max_chunk_line=20)


@pytest.mark.parametrize(
    ("target", "framing"),
    [(b"/identify/", Framing.BODY_TOO_LARGE), (b"/admin/login/", Framing.INCOMPLETE)],
)
def test_the_body_cap_is_the_one_of_the_request_path(target, framing):
    caps = {"/identify/": 100, "/admin/login/": 1000}
    request = RequestFramer(max_head=200, body_cap=caps.__getitem__, max_chunk_line=20)

    assert request.feed(b"POST " + target + b" HTTP/1.1\r\nContent-Length: 500\r\n\r\n") is framing


def chunked(*parts: bytes, trailers: bytes = b"") -> bytes:
    chunks = b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in parts)
    return chunks + b"0\r\n" + trailers + b"\r\n"


REQUEST = b"POST / HTTP/1.1\r\nHost: x\r\n"


@pytest.mark.parametrize(
    ("request_bytes", "framing"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n", Framing.INCOMPLETE),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", Framing.READY),
        (b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", Framing.READY),
        (REQUEST + b"Content-Length: 5\r\n\r\nabc", Framing.INCOMPLETE),
        (REQUEST + b"Content-Length: 5\r\n\r\nabcde", Framing.READY),
        (REQUEST + b"content-length:0005\r\n\r\nabcde", Framing.READY),
        (REQUEST + b"Content-Length: 101\r\n\r\nab", Framing.BODY_TOO_LARGE),
        (REQUEST + b"Content-Length: " + b"9" * 100 + b"\r\n\r\n", Framing.BODY_TOO_LARGE),
        # What gunicorn's parser refuses by itself is handed to it at once.
        (REQUEST + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nab", Framing.READY),
        (REQUEST + b"Content-Length: 5x\r\n\r\nab", Framing.READY),
        (REQUEST + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", Framing.READY),
        (REQUEST + b"Transfer-Encoding: chunked, gzip\r\n\r\n", Framing.READY),
        (b"GET / HTTP/1.1\nHost: x", Framing.READY),
        (REQUEST + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", Framing.READY),
        (REQUEST + b"Transfer-Encoding: chunked\r\n\r\n2\r\nabcd", Framing.READY),
        (REQUEST + b"Transfer-Encoding: chunked\r\n\r\n" + b"1" * 21, Framing.READY),
        (REQUEST + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(b"ab", b"cde"), Framing.READY),
        (
            REQUEST
            + b"Transfer-Encoding: gzip, chunked\r\n\r\n"
            + chunked(b"x", trailers=b"T: 1\r\n"),
            Framing.READY,
        ),
        (
            REQUEST + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(b"x" * 101),
            Framing.BODY_TOO_LARGE,
        ),
        (REQUEST + b"Transfer-Encoding: chunked\r\n\r\n65\r\n", Framing.BODY_TOO_LARGE),
        # Sizes and extensions count too: as sent, a body may be max_body + max_head at most.
        (
            REQUEST
            + b"Transfer-Encoding: chunked\r\n\r\n"
            + (b"1;" + b"e" * 15 + b"\r\nx\r\n") * 20,
            Framing.BODY_TOO_LARGE,
        ),
        (REQUEST + b"X: " + b"a" * 200, Framing.HEAD_TOO_LARGE),
        (REQUEST + b"X: " + b"a" * 200 + b"\r\n\r\n", Framing.HEAD_TOO_LARGE),
    ],
)
def test_the_framing_of_a_request_received_at_once(request_bytes, framing):
    assert framer().feed(request_bytes) is framing


@pytest.mark.parametrize(
    "request_bytes",
    [
        REQUEST + b"Content-Length: 5\r\n\r\nabcde",
        REQUEST + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(b"ab", b"cde;"),
        REQUEST
        + b"Transfer-Encoding: chunked\r\n\r\n"
        + chunked(b"ab", trailers=b"T: 1\r\nU: 2\r\n"),
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;name=value\r\nabc\r\n0\r\n\r\n",
    ],
)
def test_a_request_received_byte_by_byte_is_whole_at_its_last_byte_only(request_bytes):
    frames = framer()

    framings = [
        frames.feed(request_bytes[index : index + 1]) for index in range(len(request_bytes))
    ]

    assert framings == [Framing.INCOMPLETE] * (len(request_bytes) - 1) + [Framing.READY]


@pytest.mark.parametrize(("version", "expects"), [(b"HTTP/1.1", True), (b"HTTP/1.0", False)])
def test_an_http_1_1_client_may_wait_for_100_continue(version, expects):
    frames = framer()

    framing = frames.feed(
        b"POST / " + version + b"\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n"
    )

    assert framing is Framing.INCOMPLETE
    assert frames.expects_continue is expects


# --- A live server ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live_database(django_db_setup, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The test database on PostgreSQL; on SQLite, a migrated file the server can share."""
    if connection.vendor == "postgresql":
        return database_url()
    return migrated_sqlite(tmp_path_factory.mktemp("slow-clients"))


def start(database: str, *arguments: str) -> Server:
    return start_gunicorn(
        database=database,
        workers=1,
        worker_timeout=30,
        application_name="bitespeed-slow-clients",
        environment={
            "GUNICORN_THREADS": "2",
            "GUNICORN_REQUEST_READ_TIMEOUT": str(READ_TIMEOUT_SECONDS),
        },
        arguments=arguments,
    )


@pytest.fixture(scope="module")
def module_server(live_database: str) -> Iterator[Server]:
    server = start(live_database)
    yield server
    stop_gunicorn(server.process)


@pytest.fixture
def server(module_server: Server, transactional_db) -> Server:
    """The module's server; what it writes to the test database is emptied after each test."""
    return module_server


def readable(sockets: list[socket.socket], *, timeout: float) -> list[socket.socket]:
    """The sockets the server answered or closed, waiting up to ``timeout`` for the first."""
    with selectors.DefaultSelector() as selector:
        for sock in sockets:
            selector.register(sock, selectors.EVENT_READ)
        return [key.fileobj for key, _ in selector.select(timeout)]


class Trickle:
    """``count`` connections that send ``opening``, then one byte of ``trickle`` every
    ``interval`` seconds each (nothing if it is empty), until closed."""

    def __init__(
        self, server: Server, *, count: int, opening: bytes, trickle: bytes, interval: float
    ) -> None:
        self.sockets = [
            socket.create_connection((server.url_host, server.port)) for _ in range(count)
        ]
        for sock in self.sockets:
            sock.sendall(opening)
        self.trickle = trickle
        self.interval = interval
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.send)
        self.thread.start()

    def send(self) -> None:
        for byte in self.trickle:
            if self.stopped.wait(self.interval):
                return
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.send(bytes([byte]))

    def answered(self) -> list[socket.socket]:
        """The connections the server answered or closed."""
        return readable(self.sockets, timeout=0)

    def wait_closed(self, *, timeout: float) -> list[bytes]:
        """What the server sent on each connection before closing it, once it closed them all
        (or ``timeout`` passed)."""
        deadline = time.monotonic() + timeout
        received = {sock: b"" for sock in self.sockets}
        open_sockets = list(self.sockets)
        while open_sockets and time.monotonic() < deadline:
            for sock in readable(open_sockets, timeout=deadline - time.monotonic()):
                data = sock.recv(4096)
                received[sock] += data
                if not data:
                    open_sockets.remove(sock)
        return [received[sock] for sock in self.sockets if sock not in open_sockets]

    def close(self) -> None:
        self.stopped.set()
        self.thread.join()
        for sock in self.sockets:
            sock.close()


def timed_post(server: Server, index: int) -> tuple[int, float]:
    started = time.monotonic()
    status, _ = post(server, {"email": f"ordinary{index}@example.com"}, timeout=5)
    return status, time.monotonic() - started


def ordinary_requests(server: Server) -> list[tuple[int, float]]:
    """Four requests one after the other, then four at once: each status and time."""
    answers = [timed_post(server, index) for index in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers += pool.map(timed_post, [server] * 4, range(4, 8))
    return answers


def assert_all_answered_fast(answers: list[tuple[int, float]]) -> None:
    assert [status for status, _ in answers] == [200] * len(answers), answers
    assert max(seconds for _, seconds in answers) < ORDINARY_SECONDS, answers


def read_answer(sock: socket.socket) -> tuple[bytes, dict]:
    head, _, body = sock.makefile("rb").read().partition(b"\r\n\r\n")
    return head, json.loads(body)


@pytest.mark.parametrize(
    ("opening", "trickle"),
    [
        (HEAD, b"X-Slow: 1\r\n"),
        (HEAD + b"Content-Length: 100\r\n\r\n", b" " * 20),
    ],
    ids=["slow headers", "slow body"],
)
def test_forty_slow_sockets_hold_no_thread(server, opening, trickle):
    attack = Trickle(server, count=40, opening=opening, trickle=trickle, interval=0.5)
    try:
        time.sleep(0.5)
        answers = ordinary_requests(server)
        still_sending = not attack.answered()
    finally:
        attack.close()

    assert_all_answered_fast(answers)
    assert still_sending, "the attack must last while the ordinary requests are served"


def test_three_hundred_idle_connections_hold_no_thread_and_are_closed_at_the_deadline(server):
    idle = Trickle(server, count=300, opening=b"", trickle=b"", interval=1.0)
    try:
        time.sleep(0.5)
        answers = ordinary_requests(server)
        still_open = not idle.answered()
        closed = idle.wait_closed(timeout=READ_TIMEOUT_SECONDS + 2)
    finally:
        idle.close()

    assert_all_answered_fast(answers)
    assert still_open
    assert closed == [b""] * 300


def test_idle_connections_beyond_worker_connections_make_room(live_database, transactional_db):
    crowded = start(live_database, "--worker-connections", "50")
    idle = Trickle(crowded, count=120, opening=b"", trickle=b"", interval=1.0)
    try:
        time.sleep(0.5)
        answers = ordinary_requests(crowded)
    finally:
        idle.close()
        stop_gunicorn(crowded.process)

    assert_all_answered_fast(answers)


def test_a_request_trickled_past_the_deadline_is_cut_at_the_deadline_with_408(server):
    trickle = Trickle(server, count=1, opening=b"", trickle=HEAD * 3, interval=1.0)
    started = time.monotonic()
    try:
        readable(trickle.sockets, timeout=READ_TIMEOUT_SECONDS + 3)
        cut_after = time.monotonic() - started
        head, body = read_answer(trickle.sockets[0])
    finally:
        trickle.close()

    assert READ_TIMEOUT_SECONDS - 0.1 < cut_after < READ_TIMEOUT_SECONDS + 0.5
    assert head.startswith(b"HTTP/1.1 408 ")
    assert b"Content-Type: application/json" in head
    assert b"Connection: close" in head
    assert body["code"] == "request_timeout"


@pytest.mark.parametrize(
    ("declared", "sent"),
    [(b"1" + b"0" * 30, b""), (str(MAX_BODY + 1).encode(), b"{}")],
    ids=["10**30", "over the cap, 2 bytes sent"],
)
def test_a_declared_body_over_the_cap_is_413_before_it_is_read(server, declared, sent):
    raw = socket.create_connection((server.url_host, server.port), timeout=5)
    started = time.monotonic()
    raw.sendall(HEAD + b"Content-Length: " + declared + b"\r\n\r\n" + sent)

    head, body = read_answer(raw)
    answered_after = time.monotonic() - started
    raw.close()

    assert head.startswith(b"HTTP/1.1 413 ")
    assert body == {
        "detail": f"The request body is larger than {MAX_BODY} bytes.",
        "code": "payload_too_large",
    }
    assert answered_after < 0.5


def test_a_header_section_over_the_cap_is_431(server):
    raw = socket.create_connection((server.url_host, server.port), timeout=5)
    padding = b"".join(b"X-Pad-%d: %s\r\n" % (index, b"a" * 1000) for index in range(40))
    raw.sendall(HEAD + padding + b"\r\n")

    head, body = read_answer(raw)
    raw.close()

    assert head.startswith(b"HTTP/1.1 431 ")
    assert body == {
        "detail": f"The request's header section is larger than {MAX_HEAD_BYTES} bytes.",
        "code": "request_header_fields_too_large",
    }


def test_a_chunked_body_is_served(server):
    raw = socket.create_connection((server.url_host, server.port), timeout=5)
    raw.sendall(
        HEAD
        + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        + chunked(BODY[:10], BODY[10:])
    )

    head, body = read_answer(raw)
    raw.close()

    assert head.startswith(b"HTTP/1.1 200 "), head
    assert body["contact"]["emails"] == ["piped@example.com"]


def test_a_chunked_body_growing_over_the_cap_is_413(server):
    raw = socket.create_connection((server.url_host, server.port), timeout=5)
    raw.sendall(HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"10000\r\n" + b"a" * 0x10000 + b"\r\n"
    sent = 0
    # Like a careful client, stop sending once the server has answered.
    while not readable([raw], timeout=0) and sent <= 4 * MAX_BODY:
        raw.sendall(chunk)
        sent += 0x10000

    head, body = read_answer(raw)
    raw.close()

    assert head.startswith(b"HTTP/1.1 413 ")
    assert body["code"] == "payload_too_large"
    assert sent > MAX_BODY


def test_pipelined_requests_on_one_connection_are_both_answered(server):
    raw = socket.create_connection((server.url_host, server.port), timeout=5)
    first = HEAD + b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY
    second = HEAD + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(BODY) + BODY
    raw.sendall(first + second)

    answers = raw.makefile("rb").read()
    raw.close()

    assert answers.count(b"HTTP/1.1 200 ") == 2, answers
    assert answers.count(b'"emails":["piped@example.com"]') == 2


def test_a_client_waiting_for_100_continue_gets_it_once(server):
    raw = socket.create_connection((server.url_host, server.port), timeout=5)
    raw.sendall(
        HEAD
        + b"Expect: 100-continue\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(BODY)
    )

    interim = raw.recv(100)
    raw.sendall(BODY)
    answers = raw.makefile("rb").read()
    raw.close()

    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert answers.startswith(b"HTTP/1.1 200 ")
    assert b"100 Continue" not in answers


def test_a_kept_alive_connection_waits_keepalive_idle_then_closes_silently(server):
    raw = socket.create_connection((server.url_host, server.port), timeout=10)
    raw.sendall(HEAD + b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY)
    reader = raw.makefile("rb")
    head = reader.readline()
    while reader.readline() != b"\r\n":
        pass
    answered = time.monotonic()

    remainder = reader.read()
    closed_after = time.monotonic() - answered
    raw.close()

    assert head.startswith(b"HTTP/1.1 200 ")
    # gunicorn's keepalive (2 s) bounds the idle wait, not the read deadline.
    assert 1.5 < closed_after < READ_TIMEOUT_SECONDS
    assert remainder.startswith(b'{"contact"')
    assert remainder.endswith(b"}")
