"""SPEC §5 on PostgreSQL: concurrent requests, each a real transaction on its own connection.

Every test runs several rounds with fresh identifiers, so that a race that a single round happens to
miss still shows up. See docs/concurrency.md for the protocol these tests hold to account.
"""

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client

from contacts.graph import UnionFind
from contacts.models import Contact, LinkPrecedence
from contacts.tests.graph_model import as_partition, assert_invariants, stored_clusters

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROUNDS = 3


def send_concurrently(bodies: list[dict]) -> list[dict]:
    """POST every body to /identify/ from its own thread and connection, all released at once."""
    start = threading.Barrier(len(bodies))

    def send(body: dict) -> dict:
        try:
            client = Client()
            start.wait()
            response = client.post("/identify/", body, content_type="application/json")
            assert response.status_code == 200, response.content
            return response.json()["contact"]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(send, bodies))


def send_one(body: dict) -> dict:
    response = Client().post("/identify/", body, content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()["contact"]


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_identical_new_requests_create_one_primary(round_):
    body = {"email": f"same{round_}@example.com", "phoneNumber": f"100{round_}"}

    answers = send_concurrently([body] * 30)

    assert Contact.objects.count() == 1
    only = Contact.objects.get()
    assert only.link_precedence == LinkPrecedence.PRIMARY
    assert {answer["primaryContactId"] for answer in answers} == {only.id}
    assert all(answer["secondaryContactIds"] == [] for answer in answers)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_new_emails_for_one_known_phone_become_secondaries_of_its_primary(round_):
    phone = f"200{round_}"
    primary_id = send_one({"email": f"first{round_}@example.com", "phoneNumber": phone})[
        "primaryContactId"
    ]

    answers = send_concurrently(
        [{"email": f"e{i}.{round_}@example.com", "phoneNumber": phone} for i in range(20)]
    )

    secondaries = Contact.objects.filter(link_precedence=LinkPrecedence.SECONDARY)
    assert Contact.objects.filter(link_precedence=LinkPrecedence.PRIMARY).count() == 1
    assert secondaries.count() == 20
    assert set(secondaries.values_list("linked_id", flat=True)) == {primary_id}
    assert {answer["primaryContactId"] for answer in answers} == {primary_id}
    final = send_one({"phoneNumber": phone})
    assert len(final["emails"]) == 21
    assert_invariants()


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_new_emails_for_one_new_phone_share_one_primary(round_):
    phone = f"300{round_}"

    send_concurrently(
        [{"email": f"n{i}.{round_}@example.com", "phoneNumber": phone} for i in range(20)]
    )

    assert Contact.objects.filter(link_precedence=LinkPrecedence.PRIMARY).count() == 1
    assert Contact.objects.count() == 20
    assert_invariants()


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_pairwise_bridges_sent_at_once_make_one_cluster_led_by_the_oldest(round_):
    rng = random.Random(round_)
    primaries = [
        send_one({"email": f"b{i}.{round_}@example.com", "phoneNumber": f"4{round_}{i:02d}"})[
            "primaryContactId"
        ]
        for i in range(10)
    ]
    bridges = [
        {"email": f"b{i}.{round_}@example.com", "phoneNumber": f"4{round_}{i + 1:02d}"}
        for i in range(9)
    ]
    rng.shuffle(bridges)

    send_concurrently(bridges)

    assert Contact.objects.count() == 10
    assert list(
        Contact.objects.filter(link_precedence=LinkPrecedence.PRIMARY).values_list("id", flat=True)
    ) == [primaries[0]]
    final = send_one({"phoneNumber": f"4{round_}05"})
    assert final["primaryContactId"] == primaries[0]
    assert final["secondaryContactIds"] == sorted(primaries[1:])
    assert_invariants()


@pytest.mark.parametrize("seed", range(ROUNDS))
def test_random_storm_gives_the_connected_components_of_the_requests(seed):
    rng = random.Random(seed)
    emails = [f"s{i}@example.com" for i in range(8)]
    phones = [f"50{i}" for i in range(8)]
    bodies = []
    for _ in range(48):
        shape = rng.random()
        body = {}
        if shape < 0.8:
            body["email"] = rng.choice(emails)
        if shape > 0.2:
            body["phoneNumber"] = rng.choice(phones)
        bodies.append(body)

    for batch_start in range(0, len(bodies), 16):
        send_concurrently(bodies[batch_start : batch_start + 16])

    model: UnionFind = UnionFind()
    for body in bodies:
        nodes = [("email", body.get("email")), ("phone", body.get("phoneNumber"))]
        model.union(*[node for node in nodes if node[1] is not None])
    assert as_partition(stored_clusters()) == as_partition(model.groups())
    assert_invariants()
    identifiers_on_contacts = {
        node
        for row in Contact.objects.values("email", "phone_number")
        for node in (("email", row["email"]), ("phone", row["phone_number"]))
        if node[1] is not None
    }
    assert identifiers_on_contacts == {node for group in model.groups() for node in group}
