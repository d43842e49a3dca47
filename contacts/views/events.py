"""``GET /events/``: the pull feed of identity events, sequenced first so that it is current
without the worker (docs/events.md)."""

from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from contacts.models import OutboxEvent, Scope
from contacts.rules.events import ALL_EVENT_TYPES, event_payload
from contacts.schema import events_feed_schema
from contacts.selectors.events import events_after, feed_cursor, feed_position
from contacts.serializers import ValuesField, represent
from contacts.services.events import events_sequence

# The events of one page of GET /events/, by default and at most.
EVENT_FEED_LIMIT = 100
EVENT_FEED_MAX_LIMIT = 1000


class FeedCursorField(serializers.Field):
    """A position in the event feed: the opaque cursor for clients, the id of the event it
    follows for the code; ``invalid_cursor`` for any text the feed never gave out."""

    def to_internal_value(self, data: object) -> int:
        return feed_position(cursor=str(data))

    def to_representation(self, value: int) -> str:
        return feed_cursor(event_id=value)


class EventStreamSerializer(serializers.Serializer):
    identityId = serializers.IntegerField()
    sequence = serializers.IntegerField(help_text="The event's place in this identity's stream.")

    class Meta:
        ref_name = "EventStream"


class EventSerializer(serializers.Serializer):
    """One identity event, as a webhook receives it (built by ``event_payload``)."""

    id = serializers.CharField(help_text="`evt_` and a number; stable: webhooks send the same id.")
    type = serializers.ChoiceField(choices=ALL_EVENT_TYPES)
    occurredAt = serializers.DateTimeField(help_text="When the change committed.")
    identityId = serializers.IntegerField(help_text="The identity it is about (its primary's id).")
    sequence = serializers.IntegerField(help_text="Its place in that identity's stream, from 1.")
    streams = EventStreamSerializer(
        many=True, help_text="Every identity's stream it is part of, `identityId`'s first."
    )
    data = serializers.DictField(
        help_text="What happened, by `type`: ids and kinds, never an email or a phone number."
    )

    class Meta:
        ref_name = "Event"


class EventPayloadsField(ValuesField):
    """Sequenced events as webhooks send them (``event_payload``); ``child`` describes one."""

    def to_representation(self, data: list[OutboxEvent]) -> list[dict]:
        return [
            event_payload(
                event_id=event.id,
                event_type=event.type,
                occurred_at=event.occurred_at,
                streams=event.streams,
                data=event.data,
            )
            for event in data
        ]


class EventFeedView(APIView):
    """``GET /events/``: the identity events after a cursor, in the order they were sequenced.

    Sequences committed history first, so that the feed is current without the worker; when
    another process is sequencing it does not wait, and serves what is sequenced already.
    """

    required_scope = Scope.EVENTS

    class InputSerializer(serializers.Serializer):
        after = FeedCursorField(
            default=0,
            help_text="`next` of an earlier answer; absent or empty: from the first event.",
        )
        limit = serializers.IntegerField(
            min_value=1, max_value=EVENT_FEED_MAX_LIMIT, default=EVENT_FEED_LIMIT
        )
        types = serializers.CharField(
            default="",
            allow_blank=True,
            help_text="Event types, comma-separated; absent or empty: every type.",
        )

        class Meta:
            ref_name = "EventFeedQuery"

        def validate_types(self, value: str) -> list[str]:
            types = [name.strip() for name in value.split(",") if name.strip()]
            unknown = [name for name in types if name not in ALL_EVENT_TYPES]
            if unknown:
                known = ", ".join(ALL_EVENT_TYPES)
                raise ValidationError(f"Unknown event type `{unknown[0]}`; the types: {known}.")
            return types

    class OutputSerializer(serializers.Serializer):
        events = EventPayloadsField(child=EventSerializer(), help_text="In feed order.")
        next = FeedCursorField(
            help_text="The cursor after the last event; the one given when there is none."
        )
        hasMore = serializers.BooleanField(
            source="has_more", help_text="More events are sequenced after `next`."
        )

        class Meta:
            ref_name = "EventFeed"

    @events_feed_schema(query=InputSerializer, response=OutputSerializer)
    def get(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        query = serializer.validated_data
        events_sequence()
        # One event more than the page tells whether another page follows.
        events = events_after(after=query["after"], limit=query["limit"] + 1, types=query["types"])
        page = events[: query["limit"]]
        feed = {
            "events": page,
            "next": page[-1].id if page else query["after"],
            "has_more": len(events) > len(page),
        }
        return Response(represent(self.OutputSerializer, feed))
