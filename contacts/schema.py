"""The OpenAPI description of the API, for drf-spectacular: SPEC §4's examples, and every error.

Views apply the ``extend_schema`` decorators defined here; nothing in this module runs per request.
The bodies are ``contacts.serializers``' and every example is built by the code that builds the
real answer (the serializers, ``contacts.errors.api_error_body``), so none can drift from it.
"""

from django.conf import settings
from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions

from contacts.errors import api_error_body
from contacts.exceptions import (
    IdentifiersBlocked,
    IdentitiesConflict,
    IdentityNotFound,
    ServiceUnavailable,
)
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
                "Scopes: `identify` (POST /identify/ and every read), `lookup` (reads only)."
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


def _invalid_input_body() -> dict:
    """What ``POST /identify/`` answers an invalid email with, as the view would build it."""
    request = IdentifyRequestSerializer(data={"email": "lorraine@"})
    request.is_valid()
    return api_error_body(exceptions.ValidationError(request.errors))


def _error_example(status: int, summary: str, error: Exception) -> OpenApiExample:
    return OpenApiExample(
        summary, response_only=True, status_codes=[str(status)], value=api_error_body(error)
    )


# Every operation that needs a key answers these; /identify/ also refuses a key without its scope.
UNAUTHENTICATED = "No API key, or one that is unknown, revoked or expired."
UNAUTHENTICATED_EXAMPLES = [
    _error_example(401, "No API key", exceptions.NotAuthenticated(**API_KEY_REQUIRED)),
    _error_example(
        401, "Unknown, revoked or expired key", exceptions.AuthenticationFailed(**INVALID_API_KEY)
    ),
]
ACCESS_EXAMPLES = [
    *UNAUTHENTICATED_EXAMPLES,
    _error_example(
        403, "Key without the scope", exceptions.PermissionDenied(**scope_missing(Scope.IDENTIFY))
    ),
]

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
    _error_example(429, "Over the rate limit", exceptions.Throttled(wait=1)),
    _error_example(503, "Database busy or unreachable", ServiceUnavailable()),
    *ACCESS_EXAMPLES,
]


BLOCKED = (
    "Every identifier given is blocked (`blocked_identifier`; `errors` names the fields); "
    "nothing was written."
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
        *UNAUTHENTICATED_EXAMPLES,
    ],
    extensions={"x-required-scope": Scope.LOOKUP.value},
)

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
        404: _error("No such contact, or it is soft-deleted (`code` says which)."),
    },
    examples=[
        _error_example(
            404,
            "Unknown contact",
            IdentityNotFound("No contact #99.", code="contact_not_found"),
        ),
        *UNAUTHENTICATED_EXAMPLES,
    ],
    extensions={"x-required-scope": Scope.LOOKUP.value},
)
