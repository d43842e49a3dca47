"""The description of the pull feed of identity events (docs/events.md, "The pull feed").

Its view keeps its serializers nested (HackSoft's Input/Output), so this is a factory that the
view calls with them. The sample events are built from history rows by the code that builds the
real ones (``contacts.rules.events``).
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers

from contacts.exceptions import InvalidCursor, ServiceUnavailable
from contacts.models import EventKind, OutboxEvent, Scope
from contacts.rules.events import HistoryRow, event_from_history
from contacts.schema.common import (
    UNAUTHENTICATED,
    access_examples,
    error_example,
    error_response,
    invalid_input_example,
)
from contacts.serializers import represent


class FeedCursorFieldExtension(OpenApiSerializerFieldExtension):
    """A cursor is text to pass back as it came (URL-safe: no escaping needed in a query)."""

    target_class = "contacts.views.events.FeedCursorField"

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"}


def _sample_event(
    *,
    event_id: int,
    kind: EventKind,
    contact_id: int,
    primary_id: int,
    details: dict[str, Any],
    sequences: list[int],
) -> OutboxEvent:
    """The event the sequencer makes of a history row, numbered ``sequences`` in its streams."""
    draft = event_from_history(
        HistoryRow(
            id=event_id,
            kind=kind,
            source="api",
            contact_id=contact_id,
            primary_id=primary_id,
            details=details,
            created_at=datetime(2026, 5, 4, 12, event_id, tzinfo=UTC),
        )
    )
    streams = [list(stream) for stream in zip(draft.identity_ids, sequences, strict=True)]
    return OutboxEvent(
        id=event_id,
        type=draft.type,
        identity_id=streams[0][0],
        sequence=streams[0][1],
        streams=streams,
        data=draft.data,
        occurred_at=draft.occurred_at,
    )


SAMPLE_EVENTS = [
    _sample_event(
        event_id=1,
        kind=EventKind.PRIMARY_CREATED,
        contact_id=1,
        primary_id=1,
        details={"request": {"id": "9f1c2d7e"}},
        sequences=[1],
    ),
    _sample_event(
        event_id=2,
        kind=EventKind.SECONDARY_ADDED,
        contact_id=23,
        primary_id=1,
        details={"request": {"id": "b4e08a31"}},
        sequences=[2],
    ),
    _sample_event(
        event_id=7,
        kind=EventKind.MERGED,
        contact_id=27,
        primary_id=11,
        details={
            "winner": 11,
            "loser": 27,
            "bridged_by": ["phoneNumber"],
            "request": {"id": "c51d9f02"},
        },
        sequences=[2, 3],
    ),
]

DESCRIPTION = (
    "The identity events sequenced after the cursor `after`, in the order they were sequenced, "
    "for clients that cannot receive webhooks: each event is the JSON a webhook receives. Pass "
    "`next` as `after` to read on; a cursor stays valid for good, so a client that stores it "
    "resumes where it stopped. `hasMore` says whether another page is ready now. Events carry "
    "ids only, never an email or a phone number: read an identity with `GET /identities/{id}/`. "
    "The call first sequences committed history (without waiting for a worker that is doing "
    "so), and writes nothing else. Scope: `events` (no other scope includes it)."
)


def events_feed_schema(
    *, query: type[serializers.Serializer], response: type[serializers.Serializer]
) -> Callable:
    return extend_schema(
        summary="Read the identity events after a cursor",
        description=DESCRIPTION,
        parameters=[query],
        responses={
            200: response,
            400: error_response(
                "A cursor the feed did not give out (`invalid_cursor`), a `limit` that is not "
                "an integer from 1 to 1000, or an unknown type in `types`; `errors` names the "
                "parameter."
            ),
            401: error_response(UNAUTHENTICATED),
            403: error_response("The API key lacks the `events` scope."),
            503: error_response("The database is busy or unreachable. `Retry-After`."),
        },
        examples=[
            OpenApiExample(
                "page",
                summary="A page of events: a customer, a second email, then a merge",
                response_only=True,
                status_codes=["200"],
                value=represent(response, {"events": SAMPLE_EVENTS, "next": 7, "has_more": False}),
            ),
            OpenApiExample(
                "caught up",
                summary="Nothing new since the cursor: `next` is the cursor given",
                response_only=True,
                status_codes=["200"],
                value=represent(response, {"events": [], "next": 7, "has_more": False}),
            ),
            error_example(400, "Not a cursor of the feed", InvalidCursor()),
            invalid_input_example("limit", "Limit over 1000", query, {"limit": "5000"}),
            invalid_input_example(
                "type", "Unknown event type", query, {"types": "identity.created,contact.created"}
            ),
            error_example(503, "Database busy or unreachable", ServiceUnavailable()),
            *access_examples(Scope.EVENTS),
        ],
        extensions={"x-required-scope": Scope.EVENTS.value},
    )
