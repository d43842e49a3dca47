"""HTTP endpoints: thin shells over ``contacts.services`` and ``contacts.health``."""

from django.http import HttpResponse
from django.urls import reverse
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from contacts.db.routing import reads_from_replica
from contacts.health import check_readiness
from contacts.metrics import CONTENT_TYPE, metrics_exposition
from contacts.models import ErasureScope, OutboxEvent, Scope, Source
from contacts.normalize import parse_row_id
from contacts.parsers import BoundedJSONParser
from contacts.request_log import annotate_request
from contacts.rules.events import ALL_EVENT_TYPES, event_payload
from contacts.schema import (
    erasure_create_schema,
    erasure_detail_schema,
    events_feed_schema,
    identify_schema,
    identity_detail_schema,
    liveness_schema,
    lookup_schema,
    metrics_schema,
    person_export_schema,
    readiness_schema,
)
from contacts.selectors.events import events_after, feed_cursor, feed_position
from contacts.selectors.exports import person_export
from contacts.selectors.identities import cluster_history, identity_lookup, identity_of_contact
from contacts.selectors.privacy import ErasureSubject, erasure_of_request, erasure_record
from contacts.serializers import (
    ErasedIdentifierSerializer,
    ErasureCountsSerializer,
    ExportContactSerializer,
    ExportEventSerializer,
    ExportHeldMergeSerializer,
    ExportLinkRecordSerializer,
    IdentifyRequestSerializer,
    IdentityDetailSerializer,
    IdentityResponseSerializer,
    LivenessSerializer,
    NotReadySerializer,
    PersonSerializer,
    ReadinessSerializer,
    ValuesField,
    represent,
    validated,
)
from contacts.services.events import events_sequence
from contacts.services.identify import contact_identify
from contacts.services.privacy import Requester, person_erase
from contacts.throttling import PerClientRateThrottle


class IdentifiersView(APIView):
    """A view that takes an email and/or phone number in a bounded JSON body, under the
    ``/identify/`` rate limit (per API key)."""

    parser_classes = [BoundedJSONParser]
    renderer_classes = [JSONRenderer]
    throttle_classes = [PerClientRateThrottle]
    throttle_scope = "identify"

    def identifiers(self, request: Request) -> dict:
        """The request's email and phone number in canonical form; ``400`` if invalid."""
        return validated(IdentifyRequestSerializer, request.data)


class IdentifyView(IdentifiersView):
    """``POST /identify/``: link the email and/or phone number and answer with the identity.

    JSON in and out; the hot path of every checkout (bench/RESULTS.md).
    """

    required_scope = Scope.IDENTIFY

    @identify_schema
    def post(self, request: Request) -> Response:
        identity = contact_identify(**self.identifiers(request))
        annotate_request(outcome=identity.outcome)
        return Response(represent(IdentityResponseSerializer, identity))


class IdentityLookupView(IdentifiersView):
    """``POST /identities/lookup/``: the identity that already holds the identifiers; never writes.

    The body is ``/identify/``'s (identifiers never travel in URLs, where proxies log them).
    """

    required_scope = Scope.LOOKUP

    @lookup_schema
    def post(self, request: Request) -> Response:
        identity = identity_lookup(**self.identifiers(request))
        return Response(represent(IdentityResponseSerializer, identity))


class HistoryPagination(CursorPagination):
    """An identity's history, newest first, by cursor: pages stay stable while events arrive."""

    ordering = "-id"
    page_size = 50

    def decode_cursor(self, request: Request) -> Cursor | None:
        """DRF's cursor, refused as invalid when its position is no event id: DRF would pass any
        text on to the id filter, where it fails as a ``500``."""
        cursor = super().decode_cursor(request)
        position = cursor.position if cursor is not None else None
        if position is not None and parse_row_id(position) is None:
            raise NotFound(self.invalid_cursor_message)
        return cursor


class IdentityDetailView(APIView):
    """``GET /identities/{id}/``: the identity contact ``id`` belongs to now, each member with why
    it belongs, and the identity's history."""

    renderer_classes = [JSONRenderer]
    required_scope = Scope.LOOKUP

    @identity_detail_schema
    @reads_from_replica
    def get(self, request: Request, contact_id: int) -> Response:
        cluster = identity_of_contact(contact_id=contact_id)
        member_ids = [member.id for member in cluster.members]
        paginator = HistoryPagination()
        events = paginator.paginate_queryset(
            cluster_history(member_ids=member_ids), request, view=self
        )
        detail = {
            "identity": cluster.identity,
            "members": [
                {"contact": contact, "reason": reason}
                for contact, reason in cluster.explained_members
            ],
            "history": {
                "next": paginator.get_next_link(),
                "previous": paginator.get_previous_link(),
                "results": events,
            },
        }
        return Response(represent(IdentityDetailSerializer, detail))


class ErasureCreateView(APIView):
    """``POST /privacy/erasures/``: erase a person's data in the request and answer the record.

    Idempotent by request id (``requestId`` or the ``Idempotency-Key`` header): a retry answers
    the first call's record and erases nothing more.
    """

    required_scope = Scope.PRIVACY

    class InputSerializer(PersonSerializer):
        scope = serializers.ChoiceField(
            choices=ErasureScope.values,
            default=ErasureScope.IDENTIFIER,
            error_messages={"invalid_choice": "Must be `identity` or `identifier`."},
        )
        reason = serializers.CharField(max_length=500)
        suppress = serializers.BooleanField(default=False)
        requestId = serializers.CharField(
            source="request_id", max_length=100, required=False, allow_null=True
        )

        class Meta:
            ref_name = "ErasureRequest"

        def validate(self, attrs: dict) -> dict:
            """The request id is the body's or the header's (``context["idempotency_key"]``);
            when both are sent they must be the same."""
            attrs = {"request_id": None, **super().validate(attrs)}
            header = self.context.get("idempotency_key")
            if header is None:
                return attrs
            try:
                key = self.fields["requestId"].run_validation(header)
            except ValidationError as error:
                raise ValidationError({"Idempotency-Key": error.detail}) from error
            if attrs["request_id"] not in (None, key):
                raise ValidationError(
                    {"requestId": ["Differs from the Idempotency-Key header: send one of them."]}
                )
            return {**attrs, "request_id": key}

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        scope = serializers.ChoiceField(choices=ErasureScope.values)
        subject = serializers.ChoiceField(
            choices=["email", "phone", "contact"], help_text="What named the person."
        )
        subjectContactId = serializers.IntegerField(source="subject_contact_id", allow_null=True)
        reason = serializers.CharField()
        suppress = serializers.BooleanField()
        requestedBy = serializers.CharField(source="requested_by")
        source = serializers.ChoiceField(choices=Source.values)
        createdAt = serializers.DateTimeField(source="created_at")
        counts = ErasureCountsSerializer()
        contactIds = ValuesField(child=serializers.IntegerField(), source="contact_ids")
        primaryIds = ValuesField(
            child=serializers.IntegerField(),
            source="primary_ids",
            help_text="The primaries of what was left of the identities.",
        )
        identifiers = ErasedIdentifierSerializer(many=True)

        class Meta:
            ref_name = "Erasure"

    @erasure_create_schema(request=InputSerializer, response=OutputSerializer)
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(
            data=request.data, context={"idempotency_key": request.headers.get("Idempotency-Key")}
        )
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        subject = ErasureSubject(
            scope=ErasureScope(data["scope"]),
            email=data["email"],
            phone_number=data["phone_number"],
            contact_id=data["contact_id"],
        )
        replay = erasure_of_request(request_id=data["request_id"]) is not None
        name = f"api-key:{request.auth.prefix}" if request.auth is not None else "anonymous"
        erased = person_erase(
            subject=subject,
            reason=data["reason"],
            requester=Requester(source=Source.API, name=name),
            suppress=data["suppress"],
            request_id=data["request_id"],
        )
        erasure = erasure_record(erasure_id=erased.id)
        headers = {"Location": reverse("privacy-erasure", kwargs={"erasure_id": erasure.id})}
        if replay:
            headers["Idempotent-Replayed"] = "true"
        return Response(
            represent(self.OutputSerializer, erasure),
            status=status.HTTP_201_CREATED,
            headers=headers,
        )


class ErasureDetailView(APIView):
    """``GET /privacy/erasures/{id}/``: the record of an erasure."""

    required_scope = Scope.PRIVACY
    OutputSerializer = ErasureCreateView.OutputSerializer

    @erasure_detail_schema(response=OutputSerializer)
    def get(self, request: Request, erasure_id: int) -> Response:
        erasure = erasure_record(erasure_id=erasure_id)
        if erasure is None:
            raise NotFound(f"No erasure #{erasure_id}.", code="erasure_not_found")
        return Response(represent(self.OutputSerializer, erasure))


class PersonExportView(APIView):
    """``POST /privacy/exports/``: everything held about a person, named in the body (never in
    the URL, where proxies log it)."""

    required_scope = Scope.PRIVACY

    class InputSerializer(PersonSerializer):
        class Meta:
            ref_name = "ExportRequest"

    class OutputSerializer(serializers.Serializer):
        exportedAt = serializers.DateTimeField()
        contacts = ExportContactSerializer(many=True, help_text="The identity's, by id.")
        linkRecords = ExportLinkRecordSerializer(
            many=True, help_text="Those carrying one of its values, by id."
        )
        history = ExportEventSerializer(
            many=True,
            help_text="Events about its contacts or mentioning one of its values, by id.",
        )
        heldMerges = ExportHeldMergeSerializer(
            many=True, help_text="Those carrying one of its values, by id."
        )

        class Meta:
            ref_name = "PersonExport"

    @person_export_schema(request=InputSerializer, response=OutputSerializer)
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        document = person_export(**serializer.validated_data)
        return Response(represent(self.OutputSerializer, document))


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


class LivenessView(APIView):
    """``GET /health/``: the process is up. Served for any host (``HealthCheckMiddleware``)."""

    authentication_classes = []
    permission_classes = []

    @liveness_schema
    def get(self, request: Request) -> Response:
        return Response(represent(LivenessSerializer, {"status": "ok"}))


class ReadinessView(APIView):
    """``GET /health/ready/``: ``200`` when the database is reachable, migrated, and the session
    has the timeouts every request relies on; else ``503``."""

    authentication_classes = []
    permission_classes = []

    @readiness_schema
    def get(self, request: Request) -> Response:
        readiness = check_readiness()
        if readiness.ready:
            return Response(represent(ReadinessSerializer, readiness))
        return Response(
            represent(NotReadySerializer, readiness), status=status.HTTP_503_SERVICE_UNAVAILABLE
        )


class MetricsView(APIView):
    """``GET /metrics``: the service's metrics in Prometheus' text format (docs/operations.md,
    "Metrics"). Refusals are the API's JSON, as everywhere; the metrics are a plain response,
    which DRF passes on without rendering."""

    required_scope = Scope.METRICS

    @metrics_schema
    def get(self, request: Request) -> HttpResponse:
        return HttpResponse(metrics_exposition(), content_type=CONTENT_TYPE)
