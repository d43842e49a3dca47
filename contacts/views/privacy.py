"""The privacy API: erasure requests (``POST /erasures/``, ``GET /erasures/{id}/``) and a person's
export, thin shells over ``contacts.services.erasure`` and the privacy selectors."""

from django.urls import reverse
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from contacts.models import ErasureScope, Scope, Source
from contacts.schema import erasure_create_schema, erasure_detail_schema, person_export_schema
from contacts.selectors.exports import person_export
from contacts.selectors.privacy import ErasureSubject, erasure_of_request, erasure_record
from contacts.serializers import (
    ErasedIdentifierSerializer,
    ErasureCountsSerializer,
    ExportContactSerializer,
    ExportEventSerializer,
    ExportHeldMergeSerializer,
    ExportLinkRecordSerializer,
    PersonSerializer,
    ValuesField,
    represent,
)
from contacts.services.erasure import Requester, person_erase


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
