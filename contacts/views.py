"""HTTP endpoints: thin shells over ``contacts.services`` and ``contacts.health``."""

from django.urls import reverse
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from contacts.health import check_readiness
from contacts.models import ErasureScope, Scope, Source
from contacts.normalize import parse_row_id
from contacts.parsers import BoundedJSONParser
from contacts.request_log import annotate_request
from contacts.schema import (
    erasure_create_schema,
    erasure_detail_schema,
    identify_schema,
    identity_detail_schema,
    liveness_schema,
    lookup_schema,
    person_export_schema,
    readiness_schema,
)
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
)
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
        serializer = IdentifyRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


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


class LivenessView(APIView):
    """``GET /health/``: the process is up. Served for any host (``HealthCheckMiddleware``)."""

    authentication_classes = []
    permission_classes = []

    @liveness_schema
    def get(self, request: Request) -> Response:
        return Response(represent(LivenessSerializer, {"status": "ok"}))


class ReadinessView(APIView):
    """``GET /health/ready/``: ``200`` when the database is reachable and migrated, else ``503``."""

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
