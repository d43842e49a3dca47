"""The sequencer racing ``/identify/`` writers on PostgreSQL, each on its own connection
(docs/events.md): whatever commits late, every history row becomes exactly one event, each
identity's stream is numbered without gaps in the order its changes committed, and workers
racing each other deliver every identity's events in that order."""

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from contacts.models import ClusterEvent, OutboxEvent
from contacts.services import events as events_service
from contacts.services.events import events_sequence
from contacts.services.webhooks import deliveries_send_due, webhook_endpoint_create
from contacts.tests.graph_model import assert_invariants
from contacts.tests.traffic import send_requests

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SENDERS = 6
REQUESTS_PER_SENDER = 60


def bridging_body(rng: random.Random) -> dict:
    """Few emails and phones, so that requests create, grow and merge the same identities."""
    return {
        "email": f"p{rng.randrange(12)}@example.com",
        "phoneNumber": f"81{rng.randrange(12):03d}",
    }


def sequence_until(stop: threading.Event) -> None:
    """Two sequencers at once: one of them waits for nothing while the other holds the lock."""
    try:
        while not stop.is_set():
            events_sequence(batch_size=7)
    finally:
        connection.close()


def drain(start: threading.Barrier) -> None:
    try:
        start.wait()
        while deliveries_send_due(limit=10).sent:
            pass
    finally:
        connection.close()


def test_every_committed_change_is_one_event_in_commit_order(monkeypatch, receiver):
    monkeypatch.setattr(events_service, "SETTLE_MARGIN", 0.0)
    receiver.secret = webhook_endpoint_create(url=receiver.url, event_types=[]).secret
    start, stop = threading.Barrier(SENDERS), threading.Event()
    with ThreadPoolExecutor(max_workers=SENDERS + 2) as pool:
        sequencers = [pool.submit(sequence_until, stop) for _ in range(2)]
        senders = [
            pool.submit(
                send_requests,
                request_body=bridging_body,
                seed=seed,
                start=start,
                stop=threading.Event(),
                limit=REQUESTS_PER_SENDER,
            )
            for seed in range(SENDERS)
        ]
        statuses = [status for sender in senders for status in sender.result()]
        stop.set()
        for sequencer in sequencers:
            sequencer.result()
    assert set(statuses) == {200}
    events_sequence()

    history_ids = list(ClusterEvent.objects.order_by("id").values_list("id", flat=True))
    events = list(OutboxEvent.objects.order_by("id"))
    assert sorted(event.history_id for event in events) == history_ids
    assert any(event.type == "identity.merged" for event in events)
    streams: dict[int, list[tuple[int, int]]] = {}
    for event in events:
        for identity_id, sequence in event.streams:
            streams.setdefault(identity_id, []).append((sequence, event.history_id))
    for stream in streams.values():
        sequences = [sequence for sequence, _ in stream]
        assert sequences == list(range(1, len(stream) + 1))
        assert [history_id for _, history_id in stream] == sorted(h for _, h in stream)
    assert_invariants()

    start = threading.Barrier(3)
    workers = [threading.Thread(target=drain, args=(start,)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    arrived: dict[int, list[int]] = {}
    for received in receiver.received:
        for stream in received.payload["streams"]:
            arrived.setdefault(stream["identityId"], []).append(stream["sequence"])
    assert sum(map(len, arrived.values())) == sum(map(len, streams.values()))
    assert all(sequences == sorted(sequences) for sequences in arrived.values())
    assert all(received.verified for received in receiver.received)
