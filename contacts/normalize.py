"""Normalization and validation of identifiers (SPEC §4), shared by the API, the admin and imports.

Every ``normalize_*`` function takes the raw value a client sent and returns its canonical form,
the one stored and compared, or ``None`` when the value means "not given" (missing, null or
empty). Invalid values raise ``InvalidIdentifier`` with a message meant for the client.

One person, however their identifier is typed, has one canonical form (docs/api.md
"Identifiers"): an email is NFC text, lower-cased, its domain in IDNA's Unicode form (so
``bücher.example`` and ``xn--bcher-kva.example`` match); a phone number keeps its digits and
an optional ``+``, the international prefix ``00`` becomes ``+``, and with
``PHONE_DEFAULT_REGION`` a valid national number becomes E.164. Invisible characters (format,
control and private-use code points: zero-width spaces, bidi marks, soft hyphens, BOMs) are
refused in what clients send; ``canonical_email`` and ``canonical_phone_number`` bring values
already stored to the same form (``manage.py reconcile``), dropping such characters.
"""

import re
import unicodedata

import idna
import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

EMAIL_MAX_LENGTH = 254
PHONE_MIN_DIGITS = 3
PHONE_MAX_DIGITS = 20
# A leading "+" and the digits: the longest value stored in ``Contact.phone_number``.
PHONE_MAX_LENGTH = PHONE_MAX_DIGITS + 1
# Dialled before a country code in most of the world (ITU-T E.164's recommended prefix).
INTERNATIONAL_PREFIX = "00"

# Contact ids are PostgreSQL bigints; a longer number names no contact.
MAX_CONTACT_ID = 2**63 - 1
_CONTACT_ID = re.compile(r"[0-9]{1,19}")

_PHONE_SEPARATORS = str.maketrans("", "", " -.()")
_PHONE_PATTERN = re.compile(rf"\+?[0-9]{{{PHONE_MIN_DIGITS},{PHONE_MAX_DIGITS}}}")
# Unicode categories that render as nothing, or as nothing a person can read: format (Cf: zero
# width space and joiner, soft hyphen, BOM, bidi marks and overrides), control (Cc) and private
# use (Co).
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Cc", "Co"})
# The invisible characters of ASCII: its controls, ordinary whitespace aside. Checked by one regex,
# since nearly every identifier is ASCII.
_ASCII_INVISIBLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
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


def _is_invisible(character: str) -> bool:
    return unicodedata.category(character) in _INVISIBLE_CATEGORIES


def _reject_invisible(value: str) -> None:
    """Refuse characters a person cannot see: they make two identifiers look the same."""
    if value.isascii():
        found = _ASCII_INVISIBLE.search(value)
        characters = [found.group()] if found else []
    else:
        characters = value
    for character in characters:
        if _is_invisible(character) and character not in " \t\r\n":
            raise InvalidIdentifier(
                f"Must not contain invisible characters (U+{ord(character):04X} "
                f"{unicodedata.name(character, 'unnamed')})."
            )


def without_invisible(value: str) -> str:
    """``value`` without format, control and private-use characters (kept: ordinary spaces)."""
    return "".join(c for c in value if c in " \t\r\n" or not _is_invisible(c))


def _canonical_domain(domain: str) -> str:
    """The domain in IDNA's Unicode form (UTS #46 mapping: case, width, NFC), so that its Unicode
    and punycode spellings are one value; a domain IDNA refuses is left for the validator."""
    if domain.isascii() and "xn--" not in domain:
        return domain
    try:
        return idna.decode(idna.encode(domain, uts46=True))
    except (idna.IDNAError, UnicodeError):
        return domain


def canonical_email(value: str) -> str:
    """The canonical form of an email: NFC, lower-cased, the domain in IDNA's Unicode form.

    Takes a value already known to hold no invisible characters (``without_invisible`` for stored
    values); does not validate.
    """
    email = unicodedata.normalize("NFC", value.strip()).lower()
    local, at, domain = email.rpartition("@")
    if not at:
        return email
    return f"{local}@{_canonical_domain(domain)}"


def normalize_email(value: object) -> str | None:
    """Validate an email and return its canonical form; ``None`` and ``""`` mean no email."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidIdentifier("Must be a string.")
    _reject_unstorable(value)
    _reject_invisible(value)
    email = canonical_email(value)
    if not email:
        return None
    if len(email) > EMAIL_MAX_LENGTH:
        raise InvalidIdentifier(f"Must be at most {EMAIL_MAX_LENGTH} characters.")
    try:
        _validate_email(email)
    except ValidationError as exc:
        raise InvalidIdentifier("Enter a valid email address.") from exc
    return email


def canonical_phone_number(value: str) -> str:
    """The canonical form of a phone number already reduced to digits and an optional ``+``.

    ``00`` followed by a number is that number after ``+``. With ``PHONE_DEFAULT_REGION`` set, a
    number valid in that region's numbering plan (or, after ``+``, in its own country's) is
    written in E.164; anything else keeps its digits as typed.
    """
    number = value
    if number.startswith(INTERNATIONAL_PREFIX):
        international = "+" + number.removeprefix(INTERNATIONAL_PREFIX)
        if _PHONE_PATTERN.fullmatch(international):
            number = international
    region = settings.PHONE_DEFAULT_REGION
    if not region:
        return number
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return number
    if not phonenumbers.is_valid_number(parsed):
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalize_phone_number(value: object) -> str | None:
    """Reduce a phone number to its canonical form: an optional leading ``+`` and its digits.

    Integers become their decimal string (booleans and floats are refused: JSON ``true`` and
    ``1.5`` are not phone numbers). Spaces, ``-``, ``.``, ``(`` and ``)`` are dropped.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidIdentifier("Must be a string or an integer.")
    text = str(value) if isinstance(value, int) else value
    _reject_unstorable(text)
    _reject_invisible(text)
    phone_number = text.translate(_PHONE_SEPARATORS)
    if not phone_number:
        return None
    if not _PHONE_PATTERN.fullmatch(phone_number):
        raise InvalidIdentifier(
            f"Must be {PHONE_MIN_DIGITS} to {PHONE_MAX_DIGITS} digits, optionally after one "
            "leading '+'; spaces, '-', '.', '(' and ')' are ignored."
        )
    return canonical_phone_number(phone_number)


def canonical_identifiers(
    *, email: str | None, phone_number: str | None
) -> tuple[str | None, str | None]:
    """The canonical form of an email and a phone number as stored by an earlier version: what
    ``normalize_*`` would store today, invisible characters dropped rather than refused."""
    return (
        None if email is None else canonical_email(without_invisible(email)),
        None if phone_number is None else canonical_phone_number(without_invisible(phone_number)),
    )


def parse_row_id(value: str) -> int | None:
    """A contact's or an event's id typed or sent as text (a search, a URL, a form, a cursor), or
    ``None`` if it cannot be one: ASCII digits only (``"²".isdigit()`` is true, and ``int()``
    refuses it) and within the bigint columns' range."""
    text = value.strip()
    if not _CONTACT_ID.fullmatch(text):
        return None
    number = int(text)
    return number if number <= MAX_CONTACT_ID else None
