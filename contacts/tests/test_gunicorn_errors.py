"""gunicorn's own error answers are the API's JSON, and threads answering at once do not mix them.

The threaded worker's threads answer their errors at the same time; which error is the worker
timeout's is kept per thread (``bitespeed.gunicorn_worker``). Served end to end by gunicorn in
``test_faults.py`` (malformed HTTP, a request cut off).
"""

import json
import socket
import threading

from bitespeed import gunicorn_worker


def answer(*, timed_out: bool, ready: threading.Barrier) -> bytes:
    """Write one error from this thread while another thread writes its own."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        gunicorn_worker._answering.timed_out = timed_out
        ready.wait()
        gunicorn_worker.write_json_error(ours, 400, "Bad Request", "Invalid request line")
        gunicorn_worker._answering.timed_out = False
        return theirs.recv(4096)


def test_each_thread_answers_its_own_error():
    ready = threading.Barrier(2)
    answers: dict[bool, bytes] = {}

    def run(timed_out: bool) -> None:
        answers[timed_out] = answer(timed_out=timed_out, ready=ready)

    threads = [threading.Thread(target=run, args=(flag,)) for flag in (True, False)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)

    timed_out_head, timed_out_body = answers[True].split(b"\r\n\r\n", 1)
    bad_head, bad_body = answers[False].split(b"\r\n\r\n", 1)
    assert timed_out_head.startswith(b"HTTP/1.1 503 ")
    assert b"Retry-After: 1" in timed_out_head
    assert json.loads(timed_out_body)["code"] == "service_unavailable"
    assert bad_head.startswith(b"HTTP/1.1 400 ")
    assert b"Retry-After" not in bad_head
    assert json.loads(bad_body) == {"detail": "Invalid request line", "code": "bad_request"}
