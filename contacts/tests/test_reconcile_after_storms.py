"""After any storm of ``/identify/`` requests, the stored links already are the rebuilt graph.

``reconcile --check`` finds nothing and a rebuild changes nothing: the API keeps the invariants of
SPEC §2, so the command only ever has damage done outside the API to repair.
"""

import random
import re
from io import StringIO

import pytest
from django.core.management import call_command

from contacts.models import ClusterEvent, Contact, IdentityLink
from contacts.tests.test_concurrency import send_concurrently

EMAILS = [f"storm{i}@example.com" for i in range(10)]
PHONES = [f"70{i}" for i in range(10)]


def storm(identify, rng: random.Random, *, requests: int) -> None:
    """Random lookups, new contacts, secondaries and merges over a few emails and phones."""
    for _ in range(requests):
        email = rng.choice([None, *EMAILS])
        phone = rng.choice(PHONES) if email is None or rng.random() < 0.7 else None
        identify(email=email, phone=phone)


@pytest.mark.django_db
@pytest.mark.parametrize("seed", range(8))
def test_check_finds_nothing_and_a_rebuild_changes_nothing_after_a_storm(identify, seed):
    storm(identify, random.Random(seed), requests=60)
    assert IdentityLink.objects.exists()
    links = list(Contact.objects.order_by("id").values_list("id", "linked_id", "updated_at"))
    events = ClusterEvent.objects.count()

    check, rebuild = StringIO(), StringIO()
    call_command("reconcile", "--check", "--no-progress", stdout=check)
    call_command("reconcile", "--no-progress", stdout=rebuild)

    live = Contact.live.count()
    assert re.match(rf"{live} contacts? read", check.getvalue())
    assert " 0 differ, 0 changed" in check.getvalue()
    assert " 0 differ, 0 changed" in rebuild.getvalue()
    assert (
        list(Contact.objects.order_by("id").values_list("id", "linked_id", "updated_at")) == links
    )
    assert ClusterEvent.objects.count() == events


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("seed", range(2))
def test_check_finds_nothing_after_a_storm_of_concurrent_requests(seed):
    rng = random.Random(seed)
    bodies = []
    for _ in range(48):
        email = rng.choice([None, *EMAILS])
        phone = rng.choice(PHONES) if email is None or rng.random() < 0.7 else None
        bodies.append({"email": email, "phoneNumber": phone})
    for start in range(0, len(bodies), 16):
        send_concurrently(bodies[start : start + 16])
    events = ClusterEvent.objects.count()

    check, rebuild = StringIO(), StringIO()
    call_command("reconcile", "--check", "--no-progress", stdout=check)
    call_command("reconcile", "--no-progress", stdout=rebuild)

    assert " 0 differ, 0 changed" in check.getvalue()
    assert " 0 differ, 0 changed" in rebuild.getvalue()
    assert ClusterEvent.objects.count() == events
