"""The description of the privacy API (docs/privacy.md): erasures and exports."""

from collections.abc import Callable
from datetime import UTC, datetime

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers

from contacts.governance import identifier_digest
from contacts.models import Scope
from contacts.schema.common import (
    UNAUTHENTICATED,
    UNKNOWN_CONTACT,
    access_examples,
    error_example,
    error_response,
    invalid_input_example,
)
from contacts.serializers import (
    represent,
)

PRIVACY_ACCESS = {
    401: error_response(UNAUTHENTICATED),
    403: error_response("The API key lacks the `privacy` scope (no other scope includes it)."),
}
PRIVACY_BODY_ERRORS = {
    413: error_response("The body is larger than `API_MAX_BODY_BYTES`."),
    415: error_response("A `Content-Type` other than JSON."),
}
PERSON = (
    "The person is named by exactly one of `email`, `phoneNumber` (normalized as `/identify/` "
    "does) and `contactId`, in the body: identifiers never travel in URLs, where proxies log them."
)

ERASURE_SAMPLE = {
    "id": 7,
    "scope": "identity",
    "subject": "email",
    "subject_contact_id": None,
    "reason": "Customer request, ticket 4411",
    "suppress": True,
    "requested_by": "api-key:AbCdEfGh",
    "source": "api",
    "created_at": datetime(2026, 5, 4, 12, 30, tzinfo=UTC),
    "counts": {
        "contacts": 2,
        "link_records": 1,
        "held_merges": 0,
        "blocked_values": 0,
        "history_events": 3,
        "admin_log_entries": 0,
    },
    "contact_ids": [11, 23],
    "primary_ids": [27],
    "identifiers": [
        {
            "kind": kind,
            "digest": identifier_digest(kind=kind, value=value, key="example"),
            "contacts": contacts,
            "suppress": True,
        }
        for kind, value, contacts in [
            ("email", "george@hillvalley.edu", 2),
            ("phone", "919191", 1),
            ("phone", "717171", 1),
        ]
    ],
}


def _erasure_request_examples(request: type[serializers.Serializer]) -> list[OpenApiExample]:
    return [
        OpenApiExample(
            "identity",
            summary="A whole identity, by email, with a request id",
            request_only=True,
            value={
                "email": "george@hillvalley.edu",
                "reason": "Customer request, ticket 4411",
                "requestId": "ticket-4411",
            },
        ),
        OpenApiExample(
            "identifier",
            summary="One phone number, never to be stored again",
            request_only=True,
            value={
                "phoneNumber": "717171",
                "scope": "identifier",
                "reason": "Number reassigned to another subscriber",
                "suppress": True,
            },
        ),
        OpenApiExample(
            "contact",
            summary="The identity of a contact id",
            request_only=True,
            value={"contactId": 27, "reason": "Customer request, ticket 4412"},
        ),
        invalid_input_example(
            "invalid", "Invalid email", request, {"email": "lorraine@", "reason": "ticket 4411"}
        ),
        invalid_input_example(
            "two subjects",
            "More than one subject",
            request,
            {"email": "lorraine@hillvalley.edu", "contactId": 1, "reason": "x"},
        ),
    ]


def erasure_create_schema(
    *, request: type[serializers.Serializer], response: type[serializers.Serializer]
) -> Callable:
    return extend_schema(
        summary="Erase a person's data",
        description=(
            f"{PERSON} `scope` `identifier` (the default) erases the contacts carrying the "
            "value, and what is left of the identity is re-formed; `identity` erases every "
            "contact of the person's identity. Link records and held merges carrying an erased "
            "value go, the values are removed from the history and the admin log, and the record "
            "below is kept: ids, counts and keyed hashes, no email or phone number. With "
            "`suppress`, a later `/identify/` or lookup carrying an erased value is refused "
            "(`422` `suppressed`). A value no contact carries is still recorded (and "
            "suppressed). **Idempotent**: a request id (`requestId`, or the `Idempotency-Key` "
            "header; both must then be equal) sent again answers the first record with "
            "`Idempotent-Replayed: true` and erases nothing more; the same id for another "
            "person or options is `422` `request_id_reused`. Scope: `privacy`."
        ),
        request=request,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                {"type": "string", "minLength": 1, "maxLength": 100},
                OpenApiParameter.HEADER,
                description="The request id, instead of `requestId`.",
            ),
            OpenApiParameter(
                "Location",
                str,
                OpenApiParameter.HEADER,
                response=[201],
                required=True,
                description="The record's URL: `/privacy/erasures/{id}/`.",
            ),
            OpenApiParameter(
                "Idempotent-Replayed",
                {"type": "string", "enum": ["true"]},
                OpenApiParameter.HEADER,
                response=[201],
                description="Sent when the request id was seen before: nothing more was erased.",
            ),
        ],
        responses={
            201: OpenApiResponse(response, description="Erased; the record (or a replay's)."),
            400: error_response(
                "Invalid input: `errors` names the fields, never the values; nothing was erased."
            ),
            **PRIVACY_ACCESS,
            404: error_response("No contact has the `contactId` (`contact_not_found`)."),
            **PRIVACY_BODY_ERRORS,
            422: error_response(
                "The request id was already used for another erasure (`request_id_reused`); "
                "nothing was erased."
            ),
            503: error_response(
                "The database is busy or unreachable; nothing was erased. `Retry-After`."
            ),
        },
        examples=[
            *_erasure_request_examples(request),
            OpenApiExample(
                "erasure",
                summary="The record",
                response_only=True,
                status_codes=["201"],
                value=represent(response, ERASURE_SAMPLE),
            ),
            error_example(404, "Unknown contact", UNKNOWN_CONTACT),
            *access_examples(Scope.PRIVACY),
        ],
        extensions={"x-required-scope": Scope.PRIVACY.value},
    )


def erasure_detail_schema(*, response: type[serializers.Serializer]) -> Callable:
    return extend_schema(
        summary="The record of an erasure",
        description="What `POST /privacy/erasures/` answered. Scope: `privacy`.",
        responses={
            200: response,
            **PRIVACY_ACCESS,
            404: error_response("No such erasure (`erasure_not_found`)."),
        },
        examples=[
            OpenApiExample(
                "erasure",
                response_only=True,
                status_codes=["200"],
                value=represent(response, ERASURE_SAMPLE),
            ),
            error_example(
                404,
                "Unknown erasure",
                exceptions.NotFound("No erasure #99.", code="erasure_not_found"),
            ),
            *access_examples(Scope.PRIVACY),
        ],
        extensions={"x-required-scope": Scope.PRIVACY.value},
    )


EXPORT_SAMPLE = {
    "exportedAt": "2026-05-04T12:30:00Z",
    "contacts": [
        {
            "id": 1,
            "email": "lorraine@hillvalley.edu",
            "phoneNumber": "123456",
            "linkedId": None,
            "linkPrecedence": "primary",
            "createdAt": "2026-04-01T09:00:00Z",
            "updatedAt": "2026-04-01T09:00:00Z",
            "deletedAt": None,
        },
        {
            "id": 23,
            "email": "mcfly@hillvalley.edu",
            "phoneNumber": "123456",
            "linkedId": 1,
            "linkPrecedence": "secondary",
            "createdAt": "2026-04-02T10:00:00Z",
            "updatedAt": "2026-04-02T10:00:00Z",
            "deletedAt": None,
        },
    ],
    "linkRecords": [],
    "history": [
        {
            "id": 1,
            "kind": "primary_created",
            "source": "api",
            "contactId": 1,
            "primaryId": 1,
            "details": {"request": {"email": "lorraine@hillvalley.edu", "phone_number": "123456"}},
            "createdAt": "2026-04-01T09:00:00Z",
        },
        {
            "id": 2,
            "kind": "secondary_added",
            "source": "api",
            "contactId": 23,
            "primaryId": 1,
            "details": {"request": {"email": "mcfly@hillvalley.edu", "phone_number": "123456"}},
            "createdAt": "2026-04-02T10:00:00Z",
        },
    ],
    "heldMerges": [],
}


def person_export_schema(
    *, request: type[serializers.Serializer], response: type[serializers.Serializer]
) -> Callable:
    return extend_schema(
        summary="Export everything held about a person",
        description=(
            f"{PERSON} Answers the person's identity as an erasure of it would find it: its "
            "contacts (soft-deleted ones too), the link records and held merges carrying one of "
            "its values, and the history about its contacts or mentioning one of its values, "
            "each list by id. A value no contact carries answers empty lists. Reads only. "
            "Scope: `privacy`."
        ),
        request=request,
        responses={
            200: response,
            400: error_response("Invalid input: `errors` names the fields, never the values."),
            **PRIVACY_ACCESS,
            404: error_response("No contact has the `contactId` (`contact_not_found`)."),
            **PRIVACY_BODY_ERRORS,
            503: error_response("The database is busy or unreachable. `Retry-After`."),
        },
        examples=[
            OpenApiExample("email", request_only=True, value={"email": "lorraine@hillvalley.edu"}),
            OpenApiExample("contact", request_only=True, value={"contactId": 23}),
            OpenApiExample(
                "export",
                response_only=True,
                status_codes=["200"],
                value=represent(response, EXPORT_SAMPLE),
            ),
            invalid_input_example("invalid", "Invalid input", request, {"phoneNumber": "12"}),
            error_example(404, "Unknown contact", UNKNOWN_CONTACT),
            *access_examples(Scope.PRIVACY),
        ],
        extensions={"x-required-scope": Scope.PRIVACY.value},
    )
