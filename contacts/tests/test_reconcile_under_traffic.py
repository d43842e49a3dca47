"""``reconcile`` while ``/identify/`` serves traffic on PostgreSQL (SPEC §5, §6).

The repairs take the same locks as the API, so no request fails and the graph is whole afterwards.
"""

import random
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from contacts.models import Contact, LinkPrecedence
from contacts.tests.graph_model import assert_invariants

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CLUSTERS = 30
REQUESTS_PER_THREAD = 25
THREADS = 6


def seed_damaged_clusters() -> None:
    """Clusters of three, each with its newest contact chained to the middle one."""
    for index in range(CLUSTERS):
        client = Client()
        for email, phone in [("a", "1"), ("b", "1"), ("b", "2")]:
            body = {"email": f"{email}{index}@example.com", "phoneNumber": f"9{index:03d}{phone}"}
            assert (
                client.post("/identify/", body, content_type="application/json").status_code == 200
            )
        middle, newest = Contact.objects.filter(email=f"b{index}@example.com").order_by("id")
        Contact.objects.filter(id=newest.id).update(linked_id=middle.id)
    Contact.objects.filter(linked_id__isnull=False).update(link_precedence=LinkPrecedence.SECONDARY)


def send_requests(seed: int, start: threading.Barrier) -> list[int]:
    """Requests that add to, look up and bridge the damaged clusters; returns the statuses."""
    rng = random.Random(seed)
    statuses = []
    try:
        client = Client()
        start.wait()
        for _ in range(REQUESTS_PER_THREAD):
            first, second = rng.randrange(CLUSTERS), rng.randrange(CLUSTERS)
            body = rng.choice(
                [
                    {
                        "email": f"new{seed}.{rng.random()}@example.com",
                        "phoneNumber": f"9{first:03d}2",
                    },
                    {"email": f"a{first}@example.com", "phoneNumber": f"9{second:03d}1"},
                    {"email": f"b{first}@example.com"},
                ]
            )
            response = client.post("/identify/", body, content_type="application/json")
            statuses.append(response.status_code)
    finally:
        connection.close()
    return statuses


def run_reconcile(start: threading.Barrier) -> str:
    out = StringIO()
    try:
        start.wait()
        call_command("reconcile", "--batch-size", "3", "--no-progress", stdout=out)
    finally:
        connection.close()
    return out.getvalue()


@pytest.mark.parametrize("round_", range(2))
def test_reconcile_during_identify_traffic_loses_no_request_and_leaves_a_clean_graph(round_):
    seed_damaged_clusters()
    start = threading.Barrier(THREADS + 1)

    with ThreadPoolExecutor(max_workers=THREADS + 1) as pool:
        repair = pool.submit(run_reconcile, start)
        senders = [pool.submit(send_requests, round_ * THREADS + i, start) for i in range(THREADS)]
        statuses = [status for sender in senders for status in sender.result()]
        summary = repair.result()

    assert statuses == [200] * THREADS * REQUESTS_PER_THREAD
    differ, changed = map(int, re.search(r"(\d+) differs?, (\d+) changed", summary).groups())
    assert differ >= 1
    assert changed >= 1
    assert_invariants()
    out = StringIO()
    call_command("reconcile", "--check", "--no-progress", stdout=out)
    assert " 0 differ" in out.getvalue()
