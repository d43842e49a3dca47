"""Identifier governance on PostgreSQL under concurrent requests, each a real transaction on its
own connection (docs/governance.md, docs/concurrency.md): no interleaving takes an identity past
its size limit, and a value blocked while requests bridge through it links no one afterwards."""

import io
import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from contacts.models import Contact, HeldMerge, IdentifierKind, MatchType
from contacts.services.governance import identifier_block, identifier_unblock
from contacts.tests.graph_model import assert_invariants
from contacts.tests.traffic import send_requests

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

LIMIT = 5
CUSTOMERS = 12
SENDERS = 8
REQUESTS_PER_SENDER = 60
SHARED_EMAIL = "frontdesk@shop.example"


def seed_customers() -> None:
    """Twelve identities of two contacts each: c<i>@example.com with phones 70<i>0 and 70<i>1."""
    client = Client()
    for index in range(CUSTOMERS):
        for phone in (f"70{index:02d}0", f"70{index:02d}1"):
            body = {"email": f"c{index}@example.com", "phoneNumber": phone}
            assert (
                client.post("/identify/", body, content_type="application/json").status_code == 200
            )


def bridging_body(rng: random.Random) -> dict:
    """One customer's email with another's phone (a merge), or a new email for a customer's
    phone (a new contact): every request grows an identity."""
    first, second = rng.sample(range(CUSTOMERS), k=2)
    phone = f"70{second:02d}{rng.choice('01')}"
    if rng.random() < 0.3:
        return {"email": f"new{rng.random()}@example.com", "phoneNumber": phone}
    return {"email": f"c{first}@example.com", "phoneNumber": phone}


def cluster_sizes() -> Counter:
    return Counter(
        linked_id or contact_id
        for contact_id, linked_id in Contact.live.values_list("id", "linked_id")
    )


def storm(request_body, *, senders: int, limit: int, also=()) -> list[int]:
    """Send requests from ``senders`` threads at once (plus the callables in ``also``)."""
    start = threading.Barrier(senders + len(also))
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=senders + len(also)) as pool:
        others = [pool.submit(task, start=start) for task in also]
        futures = [
            pool.submit(
                send_requests,
                request_body=request_body,
                seed=seed,
                start=start,
                stop=stop,
                limit=limit,
            )
            for seed in range(senders)
        ]
        for other in others:
            other.result()
        return [status for future in futures for status in future.result()]


@pytest.mark.parametrize("round_", range(3))
def test_no_interleaving_takes_an_identity_past_the_limit(settings, round_):
    settings.IDENTITY_MAX_CLUSTER_SIZE = LIMIT
    seed_customers()

    statuses = storm(bridging_body, senders=SENDERS, limit=REQUESTS_PER_SENDER)

    assert set(statuses) == {200}
    sizes = cluster_sizes()
    assert max(sizes.values()) <= LIMIT, sizes
    assert HeldMerge.objects.exists()
    assert_invariants()
    call_command("reconcile", "--check", "--no-progress", stdout=io.StringIO())


def block_midway(*, start: threading.Barrier, unblock: bool) -> None:
    """Block the shared email while requests bridge through it; then, in one round, unblock."""
    try:
        start.wait()
        threading.Event().wait(0.05)
        result = identifier_block(
            kind=IdentifierKind.EMAIL,
            match=MatchType.EXACT,
            value=SHARED_EMAIL,
            reason="the shop's own address",
        )
        if unblock:
            threading.Event().wait(0.05)
            identifier_unblock(entry=result.entry)
    finally:
        connection.close()


def shared_email_body(rng: random.Random) -> dict:
    """The shop's own email typed with a customer's phone, new or known, or a look-up."""
    phone = f"71{rng.randrange(40):03d}"
    if rng.random() < 0.2:
        return {"phoneNumber": phone}
    return {"email": SHARED_EMAIL, "phoneNumber": phone}


@pytest.mark.parametrize("unblock", [False, True], ids=["block", "block then unblock"])
def test_a_value_blocked_under_traffic_is_applied_as_a_rebuild_applies_it(settings, unblock):
    settings.IDENTITY_MAX_CLUSTER_SIZE = 0

    statuses = storm(
        shared_email_body,
        senders=SENDERS,
        limit=REQUESTS_PER_SENDER,
        also=[partial(block_midway, unblock=unblock)],
    )

    assert set(statuses) == {200}
    assert_invariants()
    call_command("reconcile", "--check", "--no-progress", stdout=io.StringIO())
    carriers = Contact.live.filter(email=SHARED_EMAIL)
    primaries = {contact.linked_id or contact.id for contact in carriers}
    if unblock:
        assert len(primaries) == 1
    else:
        assert len(primaries) == len(set(carriers.values_list("phone_number", flat=True)))
