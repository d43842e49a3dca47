"""What every part of the API's OpenAPI description shares: the identifier fields' types, the
API key scheme, and the error examples, each built by the code that builds the real answer
(``contacts.errors.api_error_body``, the serializers), so none can drift from it."""

from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import exceptions, serializers

from contacts.errors import api_error_body
from contacts.exceptions import IdentityNotFound
from contacts.models import Scope
from contacts.permissions import API_KEY_REQUIRED, INVALID_API_KEY, scope_missing
from contacts.rules import Identity, Outcome
from contacts.serializers import (
    ErrorSerializer,
    IdentifierField,
    IdentifyRequestSerializer,
    IdentityResponseSerializer,
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
                "`privacy` (erasures and exports under /privacy/ only), `events` (the feed of "
                "identity events, GET /events/, only)."
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


def identity_example(
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


def invalid_input_body(
    serializer_class: type[serializers.Serializer] = IdentifyRequestSerializer,
    data: dict | None = None,
) -> dict:
    """What a view answers invalid input with (by default ``POST /identify/`` an invalid email),
    as the view would build it."""
    request = serializer_class(data={"email": "lorraine@"} if data is None else data)
    request.is_valid()
    return api_error_body(exceptions.ValidationError(request.errors))


def invalid_input_example(
    name: str,
    summary: str,
    serializer_class: type[serializers.Serializer] = IdentifyRequestSerializer,
    data: dict | None = None,
) -> OpenApiExample:
    """A ``400`` example: the answer to ``data`` invalid for ``serializer_class``."""
    return OpenApiExample(
        name,
        summary=summary,
        response_only=True,
        status_codes=["400"],
        value=invalid_input_body(serializer_class, data),
    )


def error_example(status: int, summary: str, error: Exception) -> OpenApiExample:
    return OpenApiExample(
        summary, response_only=True, status_codes=[str(status)], value=api_error_body(error)
    )


# Every operation that needs a key answers these, and refuses a key without its scope.
UNAUTHENTICATED = "No API key, or one that is unknown, revoked or expired."
UNAUTHENTICATED_EXAMPLES = [
    error_example(401, "No API key", exceptions.NotAuthenticated(**API_KEY_REQUIRED)),
    error_example(
        401, "Unknown, revoked or expired key", exceptions.AuthenticationFailed(**INVALID_API_KEY)
    ),
]


def access_examples(scope: Scope) -> list[OpenApiExample]:
    return [
        *UNAUTHENTICATED_EXAMPLES,
        error_example(
            403, "Key without the scope", exceptions.PermissionDenied(**scope_missing(scope))
        ),
    ]


ACCESS_EXAMPLES = access_examples(Scope.IDENTIFY)


LORRAINE = identity_example(
    1, ["lorraine@hillvalley.edu", "mcfly@hillvalley.edu"], ["123456"], [23]
)
UNKNOWN_CONTACT = IdentityNotFound("No contact #99.", code="contact_not_found")

BLOCKED = (
    "Every identifier given is blocked (`blocked_identifier`), or one was erased at its owner's "
    "request and suppressed (`suppressed`); `errors` names the fields; nothing was written."
)


def error_response(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)
