"""Identity events from history rows, and the sequencer's floor (docs/events.md).

An event is built from a history row's kind and ids only: ``details`` also holds the values a
request or an edit carried, and none of them ever leaves the service.
"""

import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from contacts.models import EventKind

EVENT_TYPES = {
    EventKind.PRIMARY_CREATED: "identity.created",
    EventKind.SECONDARY_ADDED: "identity.contact_added",
    EventKind.MERGED: "identity.merged",
    EventKind.SPLIT: "identity.split",
    EventKind.REPAIRED: "identity.repaired",
    EventKind.EDITED: "identity.contact_changed",
    EventKind.DELETED: "identity.contact_changed",
    EventKind.RESTORED: "identity.contact_changed",
    EventKind.CANONICALIZED: "identity.contact_changed",
    EventKind.ERASED: "identity.erased",
    EventKind.HELD: "identity.merge_held",
    EventKind.DECIDED: "identity.merge_decided",
}
ALL_EVENT_TYPES = sorted(set(EVENT_TYPES.values()))

_CHANGED_FIELDS = {"email": "email", "phone_number": "phoneNumber"}


@dataclass(frozen=True, slots=True)
class HistoryRow:
    id: int
    kind: str
    source: str
    contact_id: int
    primary_id: int
    details: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An event before the sequencer numbers it: ``identity_ids`` are the streams it belongs to,
    the identity it is about first."""

    history_id: int
    type: str
    identity_ids: tuple[int, ...]
    data: dict[str, Any]
    occurred_at: datetime


def event_from_history(row: HistoryRow) -> EventDraft:
    """The event a committed history row stands for."""
    kind = EventKind(row.kind)
    data, others = _DATA[kind](row)
    identity_ids = (row.primary_id, *sorted(set(others) - {row.primary_id}))
    return EventDraft(
        history_id=row.id,
        type=EVENT_TYPES[kind],
        identity_ids=identity_ids,
        data={"identityId": row.primary_id, **data, "source": row.source},
        occurred_at=row.created_at,
    )


def _request_id(row: HistoryRow) -> dict[str, Any]:
    request = row.details.get("request")
    if isinstance(request, dict) and request.get("id"):
        return {"requestId": request["id"]}
    return {}


def _added(row: HistoryRow) -> tuple[dict[str, Any], list[int]]:
    contact_ids = row.details.get("contacts") or [row.contact_id]
    return {"contactIds": contact_ids, **_request_id(row)}, []


def _merged(row: HistoryRow) -> tuple[dict[str, Any], list[int]]:
    if "loser" in row.details:
        merged_ids = [row.details["loser"]]
        data: dict[str, Any] = {"mergedIdentityIds": merged_ids}
        if row.details.get("bridged_by"):
            data["bridgedBy"] = row.details["bridged_by"]
        return {**data, **_request_id(row)}, merged_ids
    merged_ids = [i for i in row.details.get("previous_primaries", []) if i != row.primary_id]
    return {
        "mergedIdentityIds": merged_ids,
        "relinkedContactIds": row.details.get("relinked", []),
    }, merged_ids


def _relinked(row: HistoryRow) -> tuple[dict[str, Any], list[int]]:
    previous = row.details.get("previous_primaries", [])
    return {
        "previousIdentityIds": previous,
        "relinkedContactIds": row.details.get("relinked", []),
    }, previous


def _changed(row: HistoryRow) -> tuple[dict[str, Any], list[int]]:
    fields = [
        name
        for key, name in _CHANGED_FIELDS.items()
        if isinstance(row.details.get(key), list) and len(set(map(str, row.details[key]))) > 1
    ]
    return {"contactId": row.contact_id, "change": row.kind, "fields": fields}, []


def _erased(row: HistoryRow) -> tuple[dict[str, Any], list[int]]:
    return {"contactIds": [row.contact_id]}, []


def _held(row: HistoryRow) -> tuple[dict[str, Any], list[int]]:
    others = row.details.get("other_primaries", [])
    return {
        "heldMergeId": row.details.get("held_merge"),
        "hold": row.details.get("hold"),
        "otherIdentityIds": others,
    }, others


def _decided(row: HistoryRow) -> tuple[dict[str, Any], list[int]]:
    return {
        "heldMergeId": row.details.get("held_merge"),
        "decision": row.details.get("decision"),
        "neverLink": bool(row.details.get("never_link")),
    }, []


_DATA = {
    EventKind.PRIMARY_CREATED: _added,
    EventKind.SECONDARY_ADDED: _added,
    EventKind.MERGED: _merged,
    EventKind.SPLIT: _relinked,
    EventKind.REPAIRED: _relinked,
    EventKind.EDITED: _changed,
    EventKind.DELETED: _changed,
    EventKind.RESTORED: _changed,
    EventKind.CANONICALIZED: _changed,
    EventKind.ERASED: _erased,
    EventKind.HELD: _held,
    EventKind.DECIDED: _decided,
}


def event_payload(
    *,
    event_id: int,
    event_type: str,
    occurred_at: datetime,
    streams: list[list[int]],
    data: dict[str, Any],
) -> dict[str, Any]:
    """The JSON a webhook receives and the feed serves for one event."""
    identity_id, sequence = streams[0]
    return {
        "id": f"evt_{event_id}",
        "type": event_type,
        "occurredAt": occurred_at.isoformat().replace("+00:00", "Z"),
        "identityId": identity_id,
        "sequence": sequence,
        "streams": [{"identityId": i, "sequence": s} for i, s in streams],
        "data": data,
    }


RETRY_FIRST_DELAY = 1.0
RETRY_LONGEST_DELAY = 3600.0


def retry_delay(*, attempts: int, jitter: random.Random | None = None) -> timedelta:
    """How long after its ``attempts``-th failed attempt a delivery is tried again: doubling from
    a second up to an hour, less up to a fifth at random so that deliveries failed together do
    not all come back together."""
    delay = min(RETRY_FIRST_DELAY * 2 ** (attempts - 1), RETRY_LONGEST_DELAY)
    spread = (jitter or random).uniform(0.8, 1.0)
    return timedelta(seconds=delay * spread)


# --- The sequencer's floor ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The history's last id when read at ``read_at`` (seconds), and, once a snapshot taken at
    least the settle margin later saw it, that snapshot's ``xmax``: when every transaction below
    it has ended, no history row up to ``last_id`` can still appear."""

    last_id: int
    read_at: float
    barrier: int | None = None


@dataclass(frozen=True, slots=True)
class Horizon:
    """What the database says about its transactions (PostgreSQL): every transaction below
    ``xmin`` has ended; every one that started later has an id of at least ``xmax``."""

    xmin: int
    xmax: int


def floor_advance(
    *,
    floor: int,
    checkpoints: list[Checkpoint],
    last_id: int,
    horizon: Horizon | None,
    now: float,
    margin: float,
) -> tuple[int, list[Checkpoint]]:
    """The new floor and the checkpoints still waiting.

    A history id is taken (``nextval``) before the transaction that inserts it may have a
    transaction id of its own; the margin covers that gap, a few instructions of one insert.
    Without a ``horizon`` (SQLite, where the sequencer holds the write lock) every id up to
    ``last_id`` is settled at once.
    """
    if horizon is None:
        return max(floor, last_id), []
    waiting = []
    for checkpoint in checkpoints:
        if checkpoint.barrier is not None and horizon.xmin >= checkpoint.barrier:
            floor = max(floor, checkpoint.last_id)
            continue
        if checkpoint.barrier is None and now - checkpoint.read_at >= margin:
            checkpoint = replace(checkpoint, barrier=horizon.xmax)
        waiting.append(checkpoint)
    if last_id > max([floor, *(c.last_id for c in waiting)]):
        waiting.append(Checkpoint(last_id=last_id, read_at=now))
    return floor, waiting
