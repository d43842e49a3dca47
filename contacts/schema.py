"""The OpenAPI description of the API, for drf-spectacular: SPEC §4's examples, and every error.

Views apply the ``extend_schema`` decorators defined here; nothing in this module runs per request.
The bodies are ``contacts.serializers``' and every example is built by the code that builds the
real answer (the serializers, ``contacts.errors.api_error_body``), so none can drift from it.
"""

from collections.abc import Callable
from datetime import UTC, datetime

from django.conf import settings
from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers

from contacts.errors import api_error_body
from contacts.exceptions import (
    IdentifiersBlocked,
    IdentifiersSuppressed,
    IdentitiesConflict,
    IdentityNotFound,
    ServiceUnavailable,
)
from contacts.governance import identifier_digest
from contacts.health import READY, UNREACHABLE
from contacts.models import Scope
from contacts.parsers import PayloadTooLarge
from contacts.permissions import API_KEY_REQUIRED, INVALID_API_KEY, scope_missing
from contacts.rules import Identity, Outcome
from contacts.serializers import (
    ErrorSerializer,
    IdentifierField,
    IdentifyRequestSerializer,
    IdentityDetailSerializer,
    IdentityResponseSerializer,
    LivenessSerializer,
    NotReadySerializer,
    ReadinessSerializer,
    represent,
)


class IdentifierFieldExtension(OpenApiSerializerFieldExtension):
    """The JSON types each identifier accepts; the rules beyond types are in the descriptions."""

    target_class = IdentifierField

    def map_serializer_field(self, auto_schema, direction):
        return IDENTIFIER_SCHEMAS[self.target.field_name]


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """``Authorization: Api-Key <key>``; Swagger UI's "Authorize" takes the whole value."""

    target_class = "contacts.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "`Api-Key <key>`, a key made by `python manage.py create_api_key` or in the admin. "
                "Scopes: `identify` (POST /identify/ and every read), `lookup` (reads only), "
                "`privacy` (erasures and exports under /privacy/ only)."
            ),
        }


IDENTIFIER_SCHEMAS = {
    "email": {
        "type": "string",
        "format": "email",
        "nullable": True,
        "maxLength": 254,
        "description": "Trimmed and lower-cased; an empty string means no email.",
    },
    "phoneNumber": {
        "oneOf": [{"type": "string"}, {"type": "integer"}],
        "description": (
            "A string or an integer. Spaces, `-`, `.`, `(` and `)` are removed and one leading `+` "
            "is kept; 3 to 20 digits must remain. An empty string means no phone number."
        ),
    },
}


def _identity(
    primary_id: int, emails: list[str], phones: list[str], secondaries: list[int]
) -> dict:
    identity = Identity(
        primary_id=primary_id,
        emails=emails,
        phone_numbers=phones,
        secondary_ids=secondaries,
        outcome=Outcome.UNCHANGED,
    )
    return represent(IdentityResponseSerializer, identity)


def _invalid_input_body(
    serializer_class: type[serializers.Serializer] = IdentifyRequestSerializer,
    data: dict | None = None,
) -> dict:
    """What a view answers invalid input with (by default ``POST /identify/`` an invalid email),
    as the view would build it."""
    request = serializer_class(data={"email": "lorraine@"} if data is None else data)
    request.is_valid()
    return api_error_body(exceptions.ValidationError(request.errors))


def _error_example(status: int, summary: str, error: Exception) -> OpenApiExample:
    return OpenApiExample(
        summary, response_only=True, status_codes=[str(status)], value=api_error_body(error)
    )


# Every operation that needs a key answers these, and refuses a key without its scope.
UNAUTHENTICATED = "No API key, or one that is unknown, revoked or expired."
UNAUTHENTICATED_EXAMPLES = [
    _error_example(401, "No API key", exceptions.NotAuthenticated(**API_KEY_REQUIRED)),
    _error_example(
        401, "Unknown, revoked or expired key", exceptions.AuthenticationFailed(**INVALID_API_KEY)
    ),
]


def _access_examples(scope: Scope) -> list[OpenApiExample]:
    return [
        *UNAUTHENTICATED_EXAMPLES,
        _error_example(
            403, "Key without the scope", exceptions.PermissionDenied(**scope_missing(scope))
        ),
    ]


ACCESS_EXAMPLES = _access_examples(Scope.IDENTIFY)

LORRAINE = _identity(1, ["lorraine@hillvalley.edu", "mcfly@hillvalley.edu"], ["123456"], [23])

IDENTIFY_EXAMPLES = [
    OpenApiExample(
        "new customer",
        summary="New customer: a primary contact",
        request_only=True,
        value={"email": "lorraine@hillvalley.edu", "phoneNumber": "123456"},
    ),
    OpenApiExample(
        "new email",
        summary="New email for a known phone: a secondary contact",
        request_only=True,
        value={"email": "mcfly@hillvalley.edu", "phoneNumber": "123456"},
    ),
    OpenApiExample(
        "known phone",
        summary="Known phone alone: the identity, nothing written",
        request_only=True,
        value={"email": None, "phoneNumber": "123456"},
    ),
    OpenApiExample(
        "bridge",
        summary="Email of one identity, phone of another: they merge",
        request_only=True,
        value={"email": "george@hillvalley.edu", "phoneNumber": 717171},
    ),
    OpenApiExample(
        "lorraine",
        summary="Lorraine's identity after the secondary was created",
        response_only=True,
        status_codes=["200"],
        value=LORRAINE,
    ),
    OpenApiExample(
        "george",
        summary="George's identity after the merge: Biff's primary 27 is now a secondary",
        response_only=True,
        status_codes=["200"],
        value=_identity(
            11, ["george@hillvalley.edu", "biffsucks@hillvalley.edu"], ["919191", "717171"], [27]
        ),
    ),
    OpenApiExample(
        "invalid",
        summary="Invalid input",
        response_only=True,
        status_codes=["400"],
        value=_invalid_input_body(),
    ),
    _error_example(413, "Body too large", PayloadTooLarge(limit=settings.API_MAX_BODY_BYTES)),
    _error_example(415, "Not JSON", exceptions.UnsupportedMediaType("text/plain")),
    _error_example(422, "Only blocked values", IdentifiersBlocked(fields=["email"])),
    _error_example(422, "Suppressed value", IdentifiersSuppressed(fields=["email"])),
    _error_example(429, "Over the rate limit", exceptions.Throttled(wait=1)),
    _error_example(503, "Database busy or unreachable", ServiceUnavailable()),
    *ACCESS_EXAMPLES,
]


BLOCKED = (
    "Every identifier given is blocked (`blocked_identifier`), or one was erased at its owner's "
    "request and suppressed (`suppressed`); `errors` names the fields; nothing was written."
)


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


identify_schema = extend_schema(
    summary="Link an email and/or phone number into one identity",
    description=(
        "Finds every contact that shares the email or the phone number, creates a primary or a "
        "secondary contact when the request brings something new, merges two identities that the "
        "request bridges (the older primary stays primary), and answers with the identity. "
        "At least one of `email` and `phoneNumber` is required. Blocked placeholder values are "
        "stored but match nothing; a write that would grow an identity past "
        "`IDENTITY_MAX_CLUSTER_SIZE` is held for a person and the older identity is answered "
        "unchanged (docs/governance.md). Scope: `identify`."
    ),
    extensions={"x-required-scope": Scope.IDENTIFY.value},
    request=IdentifyRequestSerializer,
    responses={
        200: IdentityResponseSerializer,
        400: _error("Invalid input: the body names the problem; nothing was written."),
        413: _error("The body is larger than `API_MAX_BODY_BYTES`."),
        415: _error("A `Content-Type` other than JSON."),
        422: _error(BLOCKED),
        401: _error(UNAUTHENTICATED),
        403: _error("The API key lacks the `identify` scope."),
        429: _error("Over the rate limit (`IDENTIFY_RATE_LIMIT`, per key); see `Retry-After`."),
        503: _error("The database is busy or unreachable; nothing was written. `Retry-After`."),
    },
    examples=IDENTIFY_EXAMPLES,
)

liveness_schema = extend_schema(
    summary="Liveness: the process serves requests",
    description="Does not consult the database. Answered for any `Host` header.",
    responses={200: LivenessSerializer},
    examples=[
        OpenApiExample(
            "live", response_only=True, value=represent(LivenessSerializer, {"status": "ok"})
        )
    ],
)

readiness_schema = extend_schema(
    summary="Readiness: the database is reachable and migrated",
    description="Answered for any `Host` header.",
    responses={
        200: ReadinessSerializer,
        503: OpenApiResponse(NotReadySerializer, description="Not ready: `detail` says why."),
    },
    examples=[
        OpenApiExample(
            "ready",
            response_only=True,
            status_codes=["200"],
            value=represent(ReadinessSerializer, READY),
        ),
        OpenApiExample(
            "unreachable",
            response_only=True,
            status_codes=["503"],
            value=represent(NotReadySerializer, UNREACHABLE),
        ),
    ],
)


lookup_schema = extend_schema(
    summary="Find the identity of an email and/or phone number, without writing anything",
    description=(
        "The same body as `POST /identify/`, normalized the same way. Answers, in "
        "`/identify/`'s shape, the identity that the identifiers already belong to; never "
        "creates a contact or a link record. An identifier that no contact carries is left "
        "out. Scope: `lookup` (or `identify`)."
    ),
    request=IdentifyRequestSerializer,
    responses={
        200: IdentityResponseSerializer,
        400: _error("Invalid input: the body names the problem."),
        401: _error(UNAUTHENTICATED),
        403: _error("The API key lacks the `lookup` scope (or `identify`)."),
        404: _error("No contact carries these identifiers."),
        409: _error("The email and the phone number belong to two identities."),
        413: _error("The body is larger than `API_MAX_BODY_BYTES`."),
        415: _error("A `Content-Type` other than JSON."),
        422: _error(BLOCKED),
        429: _error("Over the rate limit (`IDENTIFY_RATE_LIMIT`, per key)."),
        503: _error("The database is busy or unreachable. `Retry-After`."),
    },
    examples=[
        OpenApiExample(
            "known phone",
            request_only=True,
            value={"email": None, "phoneNumber": "123456"},
        ),
        OpenApiExample("lorraine", response_only=True, status_codes=["200"], value=LORRAINE),
        _error_example(404, "Unknown identifiers", IdentityNotFound()),
        _error_example(
            409,
            "Two identities",
            IdentitiesConflict(email_primary_id=11, phone_primary_id=27),
        ),
        _error_example(422, "Only blocked values", IdentifiersBlocked(fields=["email"])),
        _error_example(422, "Suppressed value", IdentifiersSuppressed(fields=["email"])),
        *_access_examples(Scope.LOOKUP),
    ],
    extensions={"x-required-scope": Scope.LOOKUP.value},
)

UNKNOWN_CONTACT = IdentityNotFound("No contact #99.", code="contact_not_found")

identity_detail_schema = extend_schema(
    summary="An identity, why each contact belongs to it, and its history",
    description=(
        "For any contact id: the identity it belongs to now (a primary merged into another "
        "identity answers with that one), each member with the reason it belongs (as the "
        "admin's cluster page shows it), and the identity's history, newest first, 50 events a "
        "page (`history.next` is the next page). Scope: `lookup` (or `identify`)."
    ),
    parameters=[
        OpenApiParameter(
            "cursor", str, OpenApiParameter.QUERY, description="From `history.next`/`previous`."
        )
    ],
    responses={
        200: IdentityDetailSerializer,
        401: _error(UNAUTHENTICATED),
        403: _error("The API key lacks the `lookup` scope (or `identify`)."),
        404: _error("No such contact, or it is soft-deleted (`code` says which)."),
    },
    examples=[
        _error_example(404, "Unknown contact", UNKNOWN_CONTACT),
        *_access_examples(Scope.LOOKUP),
    ],
    extensions={"x-required-scope": Scope.LOOKUP.value},
)


# The privacy API (docs/privacy.md). Its views keep their serializers nested (HackSoft's
# Input/Output), so these are factories that the views call with them.

PRIVACY_ACCESS = {
    401: _error(UNAUTHENTICATED),
    403: _error("The API key lacks the `privacy` scope (no other scope includes it)."),
}
PRIVACY_BODY_ERRORS = {
    413: _error("The body is larger than `API_MAX_BODY_BYTES`."),
    415: _error("A `Content-Type` other than JSON."),
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
        OpenApiExample(
            "invalid",
            summary="Invalid email",
            response_only=True,
            status_codes=["400"],
            value=_invalid_input_body(request, {"email": "lorraine@", "reason": "ticket 4411"}),
        ),
        OpenApiExample(
            "two subjects",
            summary="More than one subject",
            response_only=True,
            status_codes=["400"],
            value=_invalid_input_body(
                request, {"email": "lorraine@hillvalley.edu", "contactId": 1, "reason": "x"}
            ),
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
            400: _error(
                "Invalid input: `errors` names the fields, never the values; nothing was erased."
            ),
            **PRIVACY_ACCESS,
            404: _error("No contact has the `contactId` (`contact_not_found`)."),
            **PRIVACY_BODY_ERRORS,
            422: _error(
                "The request id was already used for another erasure (`request_id_reused`); "
                "nothing was erased."
            ),
            503: _error("The database is busy or unreachable; nothing was erased. `Retry-After`."),
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
            _error_example(404, "Unknown contact", UNKNOWN_CONTACT),
            *_access_examples(Scope.PRIVACY),
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
            404: _error("No such erasure (`erasure_not_found`)."),
        },
        examples=[
            OpenApiExample(
                "erasure",
                response_only=True,
                status_codes=["200"],
                value=represent(response, ERASURE_SAMPLE),
            ),
            _error_example(
                404,
                "Unknown erasure",
                exceptions.NotFound("No erasure #99.", code="erasure_not_found"),
            ),
            *_access_examples(Scope.PRIVACY),
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
            400: _error("Invalid input: `errors` names the fields, never the values."),
            **PRIVACY_ACCESS,
            404: _error("No contact has the `contactId` (`contact_not_found`)."),
            **PRIVACY_BODY_ERRORS,
            503: _error("The database is busy or unreachable. `Retry-After`."),
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
            OpenApiExample(
                "invalid",
                summary="Invalid input",
                response_only=True,
                status_codes=["400"],
                value=_invalid_input_body(request, {"phoneNumber": "12"}),
            ),
            _error_example(404, "Unknown contact", UNKNOWN_CONTACT),
            *_access_examples(Scope.PRIVACY),
        ],
        extensions={"x-required-scope": Scope.PRIVACY.value},
    )
