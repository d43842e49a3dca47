"""Two app servers (two gunicorn masters, as on two machines) over one PostgreSQL under a storm
of requests, one of their workers killed midway (docs/scaling.md): what is stored is the
union-find of every request that was applied, and ``reconcile --check`` finds nothing."""

import io
import os
import random
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.management import call_command

from contacts.graph import UnionFind
from contacts.models import Contact, IdentityLink
from contacts.tests.graph_model import as_partition, assert_invariants, stored_clusters
from contacts.tests.live_gunicorn import Server, database_url, post, start_gunicorn, stop_gunicorn

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SENDERS = 8
REQUESTS_PER_SENDER = 50
PROBE = ("phone", "000")
"""What ``start_gunicorn`` sends to know that a server answers."""


@pytest.fixture
def servers():
    started = [
        start_gunicorn(
            database=database_url(),
            workers=2,
            worker_timeout=30,
            application_name=f"app-server-{name}",
            environment={"IDENTITY_MAX_CLUSTER_SIZE": "0"},
        )
        for name in ("a", "b")
    ]
    yield started
    for server in started:
        stop_gunicorn(server.process)


def body(rng: random.Random) -> dict:
    return {
        "email": f"s{rng.randrange(40)}@example.com",
        "phoneNumber": f"64{rng.randrange(40):03d}",
    }


def send(server: Server, seed: int) -> list[tuple[dict, int | None]]:
    """Each request's body and status; ``None`` when the connection was dropped (the killed
    worker had accepted it)."""
    rng = random.Random(seed)
    sent = []
    for _ in range(REQUESTS_PER_SENDER):
        request = body(rng)
        try:
            status, _ = post(server, request)
        except OSError:
            status = None
        sent.append((request, status))
    return sent


def applied(request: dict, status: int | None) -> bool:
    """A dropped request counts if what it would have stored is stored."""
    if status == 200:
        return True
    pair = {"email": request["email"], "phone_number": request["phoneNumber"]}
    return status is None and (
        Contact.objects.filter(**pair).exists() or IdentityLink.objects.filter(**pair).exists()
    )


def test_two_servers_under_a_storm_store_the_union_find_of_what_they_applied(servers):
    first, second = servers

    def kill_a_worker() -> None:
        time.sleep(0.5)
        os.kill(first.worker_pids()[0], signal.SIGKILL)

    killer = threading.Thread(target=kill_a_worker)
    killer.start()
    with ThreadPoolExecutor(max_workers=SENDERS) as pool:
        batches = pool.map(send, [first, second] * (SENDERS // 2), range(SENDERS))
        sent = [answer for batch in batches for answer in batch]
    killer.join()

    statuses = {status for _, status in sent}
    assert statuses <= {200, 503, None}, statuses
    model = UnionFind()
    model.add(PROBE)
    for request, status in sent:
        if applied(request, status):
            model.union(("email", request["email"]), ("phone", request["phoneNumber"]))
    assert as_partition(stored_clusters()) == as_partition(model.groups())
    assert_invariants()
    call_command("reconcile", "--check", "--no-progress", stdout=io.StringIO())
