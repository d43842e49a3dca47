"""Soft deletes and restores of several contacts at once while ``/identify/`` serves traffic, on
PostgreSQL: each correction is a real transaction on its own connection, racing the requests.

Corrections take the same locks as the API (docs/concurrency.md), so no request fails, no
correction is lost, and the clusters are the components of what is live afterwards.
"""

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import pytest
from django.db import connection
from django.test import Client

from contacts.models import Contact
from contacts.services.corrections import contacts_restore, contacts_soft_delete
from contacts.tests.graph_model import assert_invariants
from contacts.tests.traffic import send_requests

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("slow_corrections"),
]

CHAINS = 3
SENDERS = 4
CORRECTORS = 2
CORRECTIONS = 10
MAX_REQUESTS_PER_SENDER = 500


def seed_chains() -> list[int]:
    """Chains a—b—b'—c of one cluster each, in which every inner contact is a bridge; returns
    the ids of the seeded contacts."""
    client = Client()
    for index in range(CHAINS):
        for email, phone in [("a", "1"), ("b", "1"), ("b", "2"), ("c", "2")]:
            body = {"email": f"{email}{index}@example.com", "phoneNumber": f"8{index:03d}{phone}"}
            response = client.post("/identify/", body, content_type="application/json")
            assert response.status_code == 200
    return list(Contact.objects.values_list("id", flat=True))


def request_body(rng: random.Random, *, seed: int) -> dict:
    """A new contact on either side of a chain, or a look-up: the new contact must join the part
    of the chain its phone number is in, whichever contact a correction just removed or restored.
    (Requests that merge two chains would glue them for good and leave nothing to split.)"""
    phone = f"8{rng.randrange(CHAINS):03d}{rng.choice('12')}"
    if rng.random() < 0.3:
        return {"phoneNumber": phone}
    return {"email": f"new{seed}.{rng.random()}@example.com", "phoneNumber": phone}


def correct_repeatedly(*, seed: int, seeded: list[int], start: threading.Barrier) -> int:
    """Soft-delete two seeded contacts at once, then restore one of them; returns how often."""
    rng = random.Random(seed)
    done = 0
    try:
        start.wait()
        for _ in range(CORRECTIONS):
            group = rng.sample(seeded, k=2)
            contacts_soft_delete(contact_ids=group)
            contacts_restore(contact_ids=group[:1])
            done += 1
    finally:
        connection.close()
    return done


@pytest.fixture
def no_size_limit(settings) -> None:
    """Chains grow with the traffic (up to ``SENDERS * MAX_REQUESTS_PER_SENDER`` contacts): on a
    fast run past ``IDENTITY_MAX_CLUSTER_SIZE``, where a restore joining two parts is refused. The
    limit has tests of its own; here it would only decide which restores are allowed."""
    settings.IDENTITY_MAX_CLUSTER_SIZE = 0


@pytest.mark.usefixtures("no_size_limit")
@pytest.mark.parametrize("round_", range(2))
def test_group_corrections_during_traffic_lose_nothing_and_leave_the_components(round_):
    seeded = seed_chains()
    start = threading.Barrier(SENDERS + CORRECTORS)
    stop = threading.Event()

    with ThreadPoolExecutor(max_workers=SENDERS + CORRECTORS) as pool:
        correctors = [
            pool.submit(correct_repeatedly, seed=round_ * 10 + i, seeded=seeded, start=start)
            for i in range(CORRECTORS)
        ]
        senders = [
            pool.submit(
                send_requests,
                request_body=partial(request_body, seed=round_ * 10 + i),
                seed=round_ * 10 + i,
                start=start,
                stop=stop,
                limit=MAX_REQUESTS_PER_SENDER,
            )
            for i in range(SENDERS)
        ]
        corrections_done = [corrector.result() for corrector in correctors]
        stop.set()
        statuses = [status for sender in senders for status in sender.result()]

    assert corrections_done == [CORRECTIONS] * CORRECTORS
    assert len(statuses) > SENDERS
    assert set(statuses) == {200}
    assert_invariants()
