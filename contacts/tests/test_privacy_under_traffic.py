"""Erasure on PostgreSQL racing ``/identify/`` requests for the same person, each a real
transaction on its own connection (docs/privacy.md, docs/concurrency.md): whatever the
interleaving, a suppressed person leaves no trace, and what is left is consistent."""

import io
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from contacts.models import ClusterEvent, Contact, ErasureScope, IdentityLink, Source
from contacts.selectors.privacy import ErasureSubject
from contacts.services.erasure import Requester, person_erase
from contacts.tests.graph_model import assert_invariants
from contacts.tests.traffic import send_requests

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PERSON = "erase.me@example.com"
SENDERS = 6
REQUESTS_PER_SENDER = 40


def person_body(rng: random.Random) -> dict:
    """The person's email with a phone of theirs or a neighbour's (new contacts, merges), a
    neighbour alone, or a look-up of the person."""
    phone = f"72{rng.randrange(30):03d}"
    roll = rng.random()
    if roll < 0.15:
        return {"email": PERSON}
    if roll < 0.3:
        return {"email": f"n{rng.randrange(30)}@example.com", "phoneNumber": phone}
    return {"email": PERSON, "phoneNumber": phone}


def seed_person() -> None:
    client = Client()
    for index in range(5):
        body = {"email": PERSON, "phoneNumber": f"72{index:03d}"}
        assert client.post("/identify/", body, content_type="application/json").status_code == 200


def erase_midway(*, start: threading.Barrier, scope: ErasureScope, results: list) -> None:
    try:
        start.wait()
        threading.Event().wait(0.05)
        results.append(
            person_erase(
                subject=ErasureSubject(scope=scope, email=PERSON),
                reason="the person asked",
                requester=Requester(source=Source.COMMAND, name="test"),
                suppress=True,
            )
        )
    finally:
        connection.close()


@pytest.mark.parametrize("scope", [ErasureScope.IDENTIFIER, ErasureScope.IDENTITY])
def test_a_suppressed_person_leaves_no_trace_whatever_the_interleaving(scope):
    seed_person()
    start = threading.Barrier(SENDERS + 1)
    stop = threading.Event()
    erasures: list = []

    with ThreadPoolExecutor(max_workers=SENDERS + 1) as pool:
        eraser = pool.submit(erase_midway, start=start, scope=scope, results=erasures)
        senders = [
            pool.submit(
                send_requests,
                request_body=person_body,
                seed=seed,
                start=start,
                stop=stop,
                limit=REQUESTS_PER_SENDER,
            )
            for seed in range(SENDERS)
        ]
        eraser.result()
        statuses = [status for future in senders for status in future.result()]

    assert set(statuses) <= {200, 422}, statuses
    assert 422 in statuses, "no request came after the erasure"
    (erasure,) = erasures
    assert not Contact.objects.filter(email=PERSON).exists()
    assert not IdentityLink.objects.filter(email=PERSON).exists()
    events = ClusterEvent.objects.values_list("details", flat=True)
    assert not [details for details in events if PERSON in str(details)]
    assert not Contact.objects.filter(id__in=erasure.contact_ids).exists()
    assert_invariants()
    out = io.StringIO()
    call_command("reconcile", "--check", "--no-progress", stdout=out)
    assert " 0 differ" in out.getvalue()


def test_two_erasures_of_one_person_at_once_both_end_and_erase_once():
    seed_person()
    start = threading.Barrier(2)
    erasures: list = []

    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [
            pool.submit(erase_midway, start=start, scope=ErasureScope.IDENTITY, results=erasures)
            for _ in range(2)
        ]:
            future.result()

    assert len(erasures) == 2
    assert sorted(erasure.counts["contacts"] for erasure in erasures) == [0, 5]
    assert not Contact.objects.exists()
    assert_invariants()
