"""Normalization and validation of identifiers (SPEC §4), shared by the API, the admin and imports.

Every function takes the raw value a client sent and returns the stored form, or ``None`` when the
value means "not given" (missing, null or empty). Invalid values raise ``InvalidIdentifier`` with a
message meant for the client.
"""

import re

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

EMAIL_MAX_LENGTH = 254
PHONE_MIN_DIGITS = 3
PHONE_MAX_DIGITS = 20
# A leading "+" and the digits: the longest value stored in ``Contact.phone_number``.
PHONE_MAX_LENGTH = PHONE_MAX_DIGITS + 1

# Contact ids are PostgreSQL bigints; a longer number names no contact.
MAX_CONTACT_ID = 2**63 - 1
_CONTACT_ID = re.compile(r"[0-9]{1,19}")

_PHONE_SEPARATORS = str.maketrans("", "", " -.()")
_PHONE_PATTERN = re.compile(rf"\+?[0-9]{{{PHONE_MIN_DIGITS},{PHONE_MAX_DIGITS}}}")
_validate_email = EmailValidator()


class InvalidIdentifier(ValueError):
    """A value the client sent cannot be an email or a phone number."""


def _reject_unstorable(value: str) -> None:
    """Refuse NUL bytes and lone surrogates: PostgreSQL cannot store them in text."""
    if "\x00" in value:
        raise InvalidIdentifier("Must not contain NUL characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidIdentifier("Must be valid Unicode text.") from exc


def normalize_email(value: object) -> str | None:
    """Trim and lower-case an email address; ``None`` and ``""`` mean no email."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidIdentifier("Must be a string.")
    _reject_unstorable(value)
    email = value.strip().lower()
    if not email:
        return None
    if len(email) > EMAIL_MAX_LENGTH:
        raise InvalidIdentifier(f"Must be at most {EMAIL_MAX_LENGTH} characters.")
    try:
        _validate_email(email)
    except ValidationError as exc:
        raise InvalidIdentifier("Enter a valid email address.") from exc
    return email


def normalize_phone_number(value: object) -> str | None:
    """Reduce a phone number to an optional leading ``+`` and its digits.

    Integers become their decimal string (booleans and floats are refused: JSON ``true`` and
    ``1.5`` are not phone numbers). Spaces, ``-``, ``.``, ``(`` and ``)`` are dropped.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidIdentifier("Must be a string or an integer.")
    text = str(value) if isinstance(value, int) else value
    _reject_unstorable(text)
    phone_number = text.translate(_PHONE_SEPARATORS)
    if not phone_number:
        return None
    if not _PHONE_PATTERN.fullmatch(phone_number):
        raise InvalidIdentifier(
            f"Must be {PHONE_MIN_DIGITS} to {PHONE_MAX_DIGITS} digits, optionally after one "
            "leading '+'; spaces, '-', '.', '(' and ')' are ignored."
        )
    return phone_number


def parse_row_id(value: str) -> int | None:
    """A contact's or an event's id typed or sent as text (a search, a URL, a form, a cursor), or
    ``None`` if it cannot be one: ASCII digits only (``"²".isdigit()`` is true, and ``int()``
    refuses it) and within the bigint columns' range."""
    text = value.strip()
    if not _CONTACT_ID.fullmatch(text):
        return None
    number = int(text)
    return number if number <= MAX_CONTACT_ID else None
