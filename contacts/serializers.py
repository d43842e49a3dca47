"""Request validation and the response body of ``POST /identify/`` (SPEC §4)."""

from collections.abc import Callable
from typing import Any

from rest_framework import serializers

from contacts.normalize import InvalidIdentifier, normalize_email, normalize_phone_number
from contacts.services.identify import Identity


class IdentifierField(serializers.Field):
    """A JSON value turned into a stored identifier by one of ``contacts.normalize``'s functions.

    ``null``, a missing key and an empty string all mean "not given" and become ``None``.
    """

    def __init__(self, *, normalizer: Callable[[object], str | None], **kwargs: Any) -> None:
        self.normalizer = normalizer
        super().__init__(required=False, allow_null=True, **kwargs)

    def to_internal_value(self, data: object) -> str | None:
        try:
            return self.normalizer(data)
        except InvalidIdentifier as error:
            raise serializers.ValidationError(str(error), code="invalid") from error

    def to_representation(self, value: str | None) -> str | None:
        return value


class IdentifyRequestSerializer(serializers.Serializer):
    email = IdentifierField(normalizer=normalize_email)
    phoneNumber = IdentifierField(normalizer=normalize_phone_number, source="phone_number")

    def validate(self, attrs: dict[str, str | None]) -> dict[str, str | None]:
        attrs = {"email": attrs.get("email"), "phone_number": attrs.get("phone_number")}
        if attrs["email"] is None and attrs["phone_number"] is None:
            raise serializers.ValidationError(
                "Provide an email, a phoneNumber, or both.", code="required"
            )
        return attrs


def identity_payload(identity: Identity) -> dict[str, dict[str, object]]:
    """The response body; both spellings of the primary id key are sent (SPEC §4)."""
    return {
        "contact": {
            "primaryContatctId": identity.primary_id,
            "primaryContactId": identity.primary_id,
            "emails": identity.emails,
            "phoneNumbers": identity.phone_numbers,
            "secondaryContactIds": identity.secondary_ids,
        }
    }
