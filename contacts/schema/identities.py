"""The description of the identity reads: the lookup and one identity explained."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema

from contacts.exceptions import (
    IdentifiersBlocked,
    IdentifiersSuppressed,
    IdentitiesConflict,
    IdentityNotFound,
)
from contacts.models import Scope
from contacts.schema.common import (
    BLOCKED,
    LORRAINE,
    UNAUTHENTICATED,
    UNKNOWN_CONTACT,
    access_examples,
    error_example,
    error_response,
)
from contacts.serializers import (
    IdentifyRequestSerializer,
    IdentityDetailSerializer,
    IdentityResponseSerializer,
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
        400: error_response("Invalid input: the body names the problem."),
        401: error_response(UNAUTHENTICATED),
        403: error_response("The API key lacks the `lookup` scope (or `identify`)."),
        404: error_response("No contact carries these identifiers."),
        409: error_response("The email and the phone number belong to two identities."),
        413: error_response("The body is larger than `API_MAX_BODY_BYTES`."),
        415: error_response("A `Content-Type` other than JSON."),
        422: error_response(BLOCKED),
        429: error_response("Over the rate limit (`IDENTIFY_RATE_LIMIT`, per key)."),
        503: error_response("The database is busy or unreachable. `Retry-After`."),
    },
    examples=[
        OpenApiExample(
            "known phone",
            request_only=True,
            value={"email": None, "phoneNumber": "123456"},
        ),
        OpenApiExample("lorraine", response_only=True, status_codes=["200"], value=LORRAINE),
        error_example(404, "Unknown identifiers", IdentityNotFound()),
        error_example(
            409,
            "Two identities",
            IdentitiesConflict(email_primary_id=11, phone_primary_id=27),
        ),
        error_example(422, "Only blocked values", IdentifiersBlocked(fields=["email"])),
        error_example(422, "Suppressed value", IdentifiersSuppressed(fields=["email"])),
        *access_examples(Scope.LOOKUP),
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
        401: error_response(UNAUTHENTICATED),
        403: error_response("The API key lacks the `lookup` scope (or `identify`)."),
        404: error_response("No such contact, or it is soft-deleted (`code` says which)."),
    },
    examples=[
        error_example(404, "Unknown contact", UNKNOWN_CONTACT),
        *access_examples(Scope.LOOKUP),
    ],
    extensions={"x-required-scope": Scope.LOOKUP.value},
)


# The privacy API (docs/privacy.md). Its views keep their serializers nested (HackSoft's
# Input/Output), so these are factories that the views call with them.
