"""Traffic for the tests that race writers against ``/identify/`` on PostgreSQL."""

import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection, transaction
from django.test import Client


def send_requests(
    *,
    request_body: Callable[[random.Random], dict],
    seed: int,
    start: threading.Barrier,
    stop: threading.Event,
    limit: int,
) -> list[int]:
    """``POST /identify/`` on this thread's own connection once ``start`` opens, until ``stop`` is
    set or after ``limit`` requests; returns their statuses."""
    rng = random.Random(seed)
    statuses = []
    try:
        client = Client()
        start.wait()
        for _ in range(limit):
            if stop.is_set():
                break
            body = request_body(rng)
            response = client.post("/identify/", body, content_type="application/json")
            statuses.append(response.status_code)
    finally:
        connection.close()
    return statuses


@contextmanager
def transaction_held_open(work: Callable[[], object]) -> Iterator[None]:
    """Run ``work`` in a transaction on another thread's own connection and keep that transaction
    open, its locks held and its writes uncommitted, for the ``with`` block; it commits after."""
    done, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                work()
                done.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert done.wait(timeout=30), "the held transaction did not get through its work"
        yield
    finally:
        release.set()
        thread.join()
