"""Traffic for the tests that race writers against ``/identify/`` on PostgreSQL."""

import random
import threading
from collections.abc import Callable

from django.db import connection
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
