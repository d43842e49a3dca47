"""``reconcile`` bringing stored identifiers to canonical form while ``/identify/`` serves traffic,
on PostgreSQL: each canonicalization is a real transaction on its own connection, racing requests
that send the same people's identifiers in every spelling.

The canonicalization takes the locks of any correction (docs/concurrency.md), so no request
fails, no merge is lost, and afterwards each person is one identity, every stored value is
canonical and ``reconcile --check`` finds nothing.
"""

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import pytest
from django.db import connection

from contacts.models import Contact
from contacts.selectors.checks import graph_check, not_canonical_contact_ids
from contacts.services.bulk import identifiers_repair
from contacts.tests.graph_model import assert_invariants
from contacts.tests.traffic import send_requests

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("slow_corrections"),
]

PEOPLE = 12
SENDERS = 4
MAX_REQUESTS_PER_SENDER = 400


def seed_legacy_people(make_contact) -> None:
    """Each person twice, as an earlier version stored them: a punycode domain and a ``00``
    phone number in one cluster, the canonical spellings in another."""
    for person in range(PEOPLE):
        make_contact(email=f"p{person}@xn--bcher-kva.example", phone=f"00{person + 10}555")
        make_contact(email=f"p{person}@bücher.example", phone=f"7{person + 10}1")


def request_body(rng: random.Random, *, seed: int) -> dict:
    """One person's identifiers in some spelling, sometimes with a new phone number."""
    person = rng.randrange(PEOPLE)
    email = rng.choice(
        [
            f"p{person}@bücher.example",
            f"P{person}@XN--BCHER-KVA.example",
            f"p{person}@BÜCHER.example",
        ]
    )
    phone = rng.choice([f"+{person + 10}555", f"00{person + 10}555", f"7{person + 10}1"])
    if rng.random() < 0.3:
        phone = f"6{seed}{rng.randrange(10**6)}"
    return rng.choice(
        [{"email": email}, {"phoneNumber": phone}, {"email": email, "phoneNumber": phone}]
    )


def canonicalize(*, start: threading.Barrier) -> int:
    try:
        start.wait()
        contact_ids = not_canonical_contact_ids(chunk_size=100)
        return identifiers_repair(contact_ids=contact_ids, batch_size=1)
    finally:
        connection.close()


def test_canonicalization_during_traffic_leaves_one_identity_per_person(make_contact):
    seed_legacy_people(make_contact)
    start = threading.Barrier(SENDERS + 1)
    stop = threading.Event()

    with ThreadPoolExecutor(max_workers=SENDERS + 1) as pool:
        canonicalizer = pool.submit(canonicalize, start=start)
        senders = [
            pool.submit(
                send_requests,
                request_body=partial(request_body, seed=i),
                seed=i,
                start=start,
                stop=stop,
                limit=MAX_REQUESTS_PER_SENDER,
            )
            for i in range(SENDERS)
        ]
        changed = canonicalizer.result()
        stop.set()
        statuses = [status for sender in senders for status in sender.result()]

    assert changed == PEOPLE
    assert len(statuses) > SENDERS
    assert set(statuses) == {200}
    assert not_canonical_contact_ids(chunk_size=100) == []
    assert graph_check(chunk_size=100).relinks == []
    assert_invariants()
    for person in range(PEOPLE):
        carrying = Contact.live.filter(email=f"p{person}@bücher.example")
        roots = {contact.linked_id or contact.id for contact in carrying}
        assert len(roots) == 1, person
