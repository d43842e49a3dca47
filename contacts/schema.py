"""The OpenAPI description of the API, for drf-spectacular: bodies, errors and SPEC §4's examples.

Views apply the ``extend_schema`` decorators defined here; nothing in this module runs per request.
The serializers below only describe responses: the views build their bodies directly.
"""

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers

from contacts.serializers import IdentifierField, IdentifyRequestSerializer


class IdentifierFieldExtension(OpenApiSerializerFieldExtension):
    """The JSON types each identifier accepts; the rules beyond types are in the descriptions."""

    target_class = IdentifierField

    def map_serializer_field(self, auto_schema, direction):
        return IDENTIFIER_SCHEMAS[self.target.field_name]


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


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What is wrong, for people.")
    code = serializers.CharField(help_text="What is wrong, for programs.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Messages per request field, for invalid input.",
    )


class ContactSerializer(serializers.Serializer):
    primaryContatctId = serializers.IntegerField(help_text="The original task's spelling.")
    primaryContactId = serializers.IntegerField()
    emails = serializers.ListField(
        child=serializers.CharField(), help_text="The primary's first, then by creation."
    )
    phoneNumbers = serializers.ListField(
        child=serializers.CharField(), help_text="The primary's first, then by creation."
    )
    secondaryContactIds = serializers.ListField(
        child=serializers.IntegerField(), help_text="Ascending."
    )


class IdentityResponseSerializer(serializers.Serializer):
    contact = ContactSerializer()


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok"])
    checks = serializers.DictField(child=serializers.CharField(), required=False)


class HealthFailureSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["unavailable"])
    checks = serializers.DictField(child=serializers.CharField())
    detail = serializers.CharField(help_text="What is not ready and how to fix it.")
    code = serializers.CharField()


def _identity(primary_id: int, emails: list[str], phones: list[str], secondaries: list[int]):
    return {
        "contact": {
            "primaryContatctId": primary_id,
            "primaryContactId": primary_id,
            "emails": emails,
            "phoneNumbers": phones,
            "secondaryContactIds": secondaries,
        }
    }


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
        value={
            "detail": "email: Enter a valid email address.",
            "code": "invalid",
            "errors": {"email": ["Enter a valid email address."]},
        },
    ),
]


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


identify_schema = extend_schema(
    summary="Link an email and/or phone number into one identity",
    description=(
        "Finds every contact that shares the email or the phone number, creates a primary or a "
        "secondary contact when the request brings something new, merges two identities that the "
        "request bridges (the older primary stays primary), and answers with the identity. "
        "At least one of `email` and `phoneNumber` is required."
    ),
    request=IdentifyRequestSerializer,
    responses={
        200: IdentityResponseSerializer,
        400: _error("Invalid input: the body names the problem; nothing was written."),
        413: _error("The body is larger than `API_MAX_BODY_BYTES`."),
        415: _error("A `Content-Type` other than JSON."),
        429: _error("Over the rate limit (`IDENTIFY_RATE_LIMIT`); see `Retry-After`."),
        503: _error("The database is busy or unreachable; nothing was written. `Retry-After`."),
    },
    examples=IDENTIFY_EXAMPLES,
)

liveness_schema = extend_schema(
    summary="Liveness: the process serves requests",
    description="Does not consult the database. Answered for any `Host` header.",
    responses={200: HealthSerializer},
)

readiness_schema = extend_schema(
    summary="Readiness: the database is reachable and migrated",
    description="Answered for any `Host` header.",
    responses={
        200: HealthSerializer,
        503: OpenApiResponse(HealthFailureSerializer, description="Not ready: `detail` says why."),
    },
)
