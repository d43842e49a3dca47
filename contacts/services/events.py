"""The sequencer: committed history rows become numbered identity events, and each event a
delivery for every webhook endpoint that receives its type (docs/events.md).

The history rows are the outbox: written in the transaction of every change, so an event exists
exactly when its change committed. Their ids are given out before commit, so a row may commit
after a higher-numbered one; the sequencer therefore takes every committed row above its floor
that it has not sequenced yet, in id order, and raises the floor only past ids whose
transactions have all ended. Within one identity, id order is commit order: every writer holds
the identity's locks from before it takes an id until it commits (docs/concurrency.md).
"""

import time
from dataclasses import asdict

from django.db import transaction
from django.db.models import Exists, OuterRef

from contacts.db import backend
from contacts.models import (
    ClusterEvent,
    EventSequencer,
    IdentityStream,
    OutboxEvent,
    WebhookDelivery,
    WebhookEndpoint,
)
from contacts.rules.events import (
    Checkpoint,
    EventDraft,
    HistoryRow,
    event_from_history,
    floor_advance,
)
from contacts.services.webhooks import lanes_create

SEQUENCE_BATCH = 1000
"""History rows sequenced per transaction."""

SETTLE_MARGIN = 5.0
"""Seconds between reading the history's last id and the snapshot that bounds the transactions
which may still commit ids up to it (``contacts.rules.events.floor_advance``)."""

_HISTORY_FIELDS = ["id", "kind", "source", "contact_id", "primary_id", "details", "created_at"]


def events_sequence(*, batch_size: int = SEQUENCE_BATCH) -> int:
    """Sequence committed history until none is left; the number of events made. Returns at once
    with 0 when another process is sequencing (it takes what this one would have)."""
    total, after = 0, None
    while True:
        batch = _sequence_batch(after=after, batch_size=batch_size)
        if batch is None:
            return total
        made, after = batch
        total += made
        if made < batch_size:
            return total


def _sequence_batch(*, after: int | None, batch_size: int) -> tuple[int, int] | None:
    """Sequence up to ``batch_size`` rows above the floor, or above ``after`` (the last row of
    the previous full batch); ``None`` when another process holds the sequencer.

    Only a batch read from the floor and not full may raise the floor: a row below ``after``
    that committed since was not read, and must stay above the floor for the next call."""
    database = backend()
    with database.write_turn(), transaction.atomic():
        sequencer = _sequencer_locked()
        if sequencer is None:
            return None
        last_id, horizon = database.history_horizon()
        rows = _unsequenced_history(after=max(sequencer.floor, after or 0), limit=batch_size)
        _events_store(drafts=[event_from_history(row) for row in rows])
        if after is None and len(rows) < batch_size:
            floor, checkpoints = floor_advance(
                floor=sequencer.floor,
                checkpoints=[Checkpoint(**checkpoint) for checkpoint in sequencer.checkpoints],
                last_id=last_id,
                horizon=horizon,
                now=time.time(),
                margin=SETTLE_MARGIN,
            )
            EventSequencer.objects.filter(id=1).update(
                floor=floor, checkpoints=[asdict(checkpoint) for checkpoint in checkpoints]
            )
    return len(rows), rows[-1].id if rows else max(sequencer.floor, after or 0)


def _sequencer_locked() -> EventSequencer | None:
    """The sequencer's row, locked; ``None`` while another process holds it. The events'
    migration makes the row; a database emptied since (a test's flush) gets it back here, so the
    worker's every round costs no insert."""
    locked = EventSequencer.objects.select_for_update(skip_locked=True).filter(id=1)
    sequencer = locked.first()
    if sequencer is None and not EventSequencer.objects.filter(id=1).exists():
        EventSequencer.objects.bulk_create([EventSequencer()], ignore_conflicts=True)
        sequencer = locked.first()
    return sequencer


def _unsequenced_history(*, after: int, limit: int) -> list[HistoryRow]:
    sequenced = OutboxEvent.objects.filter(history_id=OuterRef("id"))
    rows = (
        ClusterEvent.objects.filter(id__gt=after)
        .exclude(Exists(sequenced))
        .order_by("id")
        .values_list(*_HISTORY_FIELDS)[:limit]
    )
    return [HistoryRow(*row) for row in rows]


def _events_store(*, drafts: list[EventDraft]) -> None:
    """Number the drafts in each of their streams, in order, and store them with their
    deliveries."""
    if not drafts:
        return
    identity_ids = {identity_id for draft in drafts for identity_id in draft.identity_ids}
    last = dict(
        IdentityStream.objects.filter(identity_id__in=identity_ids).values_list(
            "identity_id", "last_sequence"
        )
    )
    events = []
    for draft in drafts:
        streams = []
        for identity_id in draft.identity_ids:
            last[identity_id] = last.get(identity_id, 0) + 1
            streams.append([identity_id, last[identity_id]])
        events.append(
            OutboxEvent(
                history_id=draft.history_id,
                type=draft.type,
                identity_id=draft.identity_ids[0],
                sequence=streams[0][1],
                streams=streams,
                data=draft.data,
                occurred_at=draft.occurred_at,
            )
        )
    OutboxEvent.objects.bulk_create(events)
    IdentityStream.objects.bulk_create(
        [
            IdentityStream(identity_id=identity_id, last_sequence=sequence)
            for identity_id, sequence in last.items()
            if identity_id in identity_ids
        ],
        update_conflicts=True,
        unique_fields=["identity_id"],
        update_fields=["last_sequence"],
    )
    _deliveries_create(events=events)


def _deliveries_create(*, events: list[OutboxEvent]) -> None:
    """A delivery of each event to every enabled endpoint that receives its type, in the lane of
    each identity whose stream the event is part of."""
    endpoints = list(WebhookEndpoint.objects.filter(enabled=True))
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(endpoint=endpoint, event=event, identity_id=event.identity_id)
        for event in events
        for endpoint in endpoints
        if endpoint.receives(event.type)
    )
    lanes_create(deliveries=deliveries)
