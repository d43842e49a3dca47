"""The description of ``POST /identify/``: SPEC §4's examples and every error."""

from django.conf import settings
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import exceptions

from contacts.exceptions import (
    IdentifiersBlocked,
    IdentifiersSuppressed,
    ServiceUnavailable,
)
from contacts.models import Scope
from contacts.parsers import PayloadTooLarge
from contacts.schema.common import (
    ACCESS_EXAMPLES,
    BLOCKED,
    LORRAINE,
    UNAUTHENTICATED,
    error_example,
    error_response,
    identity_example,
    invalid_input_example,
)
from contacts.serializers import (
    IdentifyRequestSerializer,
    IdentityResponseSerializer,
)

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
        value=identity_example(
            11, ["george@hillvalley.edu", "biffsucks@hillvalley.edu"], ["919191", "717171"], [27]
        ),
    ),
    invalid_input_example("invalid", "Invalid input"),
    error_example(413, "Body too large", PayloadTooLarge(limit=settings.API_MAX_BODY_BYTES)),
    error_example(415, "Not JSON", exceptions.UnsupportedMediaType("text/plain")),
    error_example(422, "Only blocked values", IdentifiersBlocked(fields=["email"])),
    error_example(422, "Suppressed value", IdentifiersSuppressed(fields=["email"])),
    error_example(429, "Over the rate limit", exceptions.Throttled(wait=1)),
    error_example(503, "Database busy or unreachable", ServiceUnavailable()),
    *ACCESS_EXAMPLES,
]


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
        400: error_response("Invalid input: the body names the problem; nothing was written."),
        413: error_response("The body is larger than `API_MAX_BODY_BYTES`."),
        415: error_response("A `Content-Type` other than JSON."),
        422: error_response(BLOCKED),
        401: error_response(UNAUTHENTICATED),
        403: error_response("The API key lacks the `identify` scope."),
        429: error_response(
            "Over the rate limit (`IDENTIFY_RATE_LIMIT`, per key); see `Retry-After`."
        ),
        503: error_response(
            "The database is busy or unreachable; nothing was written. `Retry-After`."
        ),
    },
    examples=IDENTIFY_EXAMPLES,
)
