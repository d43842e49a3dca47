"""The API's contract: what a request may hold and what every answer looks like (SPEC §4).

Each serializer here both builds the responses the views send and describes them in the OpenAPI
schema (``contacts.schema``), so the two cannot drift apart.
"""

import functools
from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from contacts.explain import Reason, Via
from contacts.models import EventKind, HeldMergeKind, HeldMergeStatus, LinkPrecedence, Source
from contacts.normalize import (
    MAX_CONTACT_ID,
    InvalidIdentifier,
    normalize_email,
    normalize_phone_number,
)


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
    """The body of ``POST /identify/``: an email, a phone number, or both."""

    email = IdentifierField(normalizer=normalize_email)
    phoneNumber = IdentifierField(normalizer=normalize_phone_number, source="phone_number")

    def validate(self, attrs: dict[str, str | None]) -> dict[str, str | None]:
        attrs = {"email": attrs.get("email"), "phone_number": attrs.get("phone_number")}
        if attrs["email"] is None and attrs["phone_number"] is None:
            raise serializers.ValidationError(
                "Provide an email, a phoneNumber, or both.", code="required"
            )
        return attrs


class PersonSerializer(serializers.Serializer):
    """Who a privacy request is about: exactly one of an email, a phone number (each normalized as
    ``/identify/`` does) and a contact id. Its messages name the fields, never the values."""

    email = IdentifierField(normalizer=normalize_email)
    phoneNumber = IdentifierField(normalizer=normalize_phone_number, source="phone_number")
    contactId = serializers.IntegerField(
        source="contact_id", required=False, allow_null=True, min_value=1, max_value=MAX_CONTACT_ID
    )

    def validate(self, attrs: dict) -> dict:
        person = {name: attrs.get(name) for name in ("email", "phone_number", "contact_id")}
        if sum(value is not None for value in person.values()) != 1:
            raise serializers.ValidationError(
                "Name the person with exactly one of email, phoneNumber and contactId.",
                code="invalid",
            )
        return {**attrs, **person}


class ValuesField(serializers.ListField):
    """A list whose items are already what JSON holds (the service's own strings and ids).

    The child field describes the items in the schema; the items are passed through as they are,
    since converting every value of a cluster of thousands one call at a time is the slowest part
    of an answer.
    """

    def to_representation(self, data: list) -> list:
        return list(data)


class ContactSerializer(serializers.Serializer):
    primaryContatctId = serializers.IntegerField(
        source="primary_id", help_text="The original task's spelling."
    )
    primaryContactId = serializers.IntegerField(source="primary_id")
    emails = ValuesField(
        child=serializers.CharField(), help_text="The primary's first, then by creation."
    )
    phoneNumbers = ValuesField(
        child=serializers.CharField(),
        source="phone_numbers",
        help_text="The primary's first, then by creation.",
    )
    secondaryContactIds = ValuesField(
        child=serializers.IntegerField(), source="secondary_ids", help_text="Ascending."
    )


class IdentityResponseSerializer(serializers.Serializer):
    """The answer of ``POST /identify/``: an ``Identity`` (``contacts.rules``) under
    ``contact``; both spellings of the primary id key are sent (SPEC §4)."""

    contact = ContactSerializer(source="*")


class IdentifierSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["email", "phone"])
    value = serializers.CharField()


class LinkRecordSerializer(serializers.Serializer):
    email = serializers.CharField()
    phoneNumber = serializers.CharField(source="phone_number")


class ReasonSerializer(serializers.Serializer):
    """Why a contact belongs (``contacts.explain.Reason``), as the admin's cluster page says it."""

    via = serializers.ChoiceField(
        choices=[via.value for via in Via],
        help_text=(
            "`primary`; `shared_identifier` with `contactId`; `link_record`: an earlier request "
            "saw `identifier` together with one of `contactId`'s; `unreached`: links to repair."
        ),
    )
    contactId = serializers.IntegerField(source="contact_id", allow_null=True)
    identifier = serializers.SerializerMethodField()
    linkRecord = LinkRecordSerializer(source="link", allow_null=True)

    @extend_schema_field(IdentifierSerializer(allow_null=True))
    def get_identifier(self, reason: Reason) -> dict | None:
        if reason.identifier is None:
            return None
        kind, value = reason.identifier
        return {"kind": kind, "value": value}


class MemberSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="contact.id")
    email = serializers.CharField(source="contact.email", allow_null=True)
    phoneNumber = serializers.CharField(source="contact.phone_number", allow_null=True)
    linkPrecedence = serializers.CharField(source="contact.link_precedence")
    createdAt = serializers.DateTimeField(source="contact.created_at")
    reason = ReasonSerializer()


class HistoryEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    source = serializers.CharField()
    contactId = serializers.IntegerField(source="contact_id")
    primaryId = serializers.IntegerField(source="primary_id")
    details = serializers.JSONField()
    createdAt = serializers.DateTimeField(source="created_at")


class HistoryPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="The next, older page; null at the end.")
    previous = serializers.URLField(allow_null=True)
    results = HistoryEventSerializer(many=True, help_text="Newest first.")


class IdentityDetailSerializer(serializers.Serializer):
    """``GET /identities/{id}/``: the identity as ``/identify/`` answers it, every member with why
    it belongs, and one page of the identity's history."""

    contact = ContactSerializer(source="identity")
    contacts = MemberSerializer(many=True, source="members")
    history = HistoryPageSerializer()


class ErasureCountsSerializer(serializers.Serializer):
    """What an erasure removed, per place (docs/privacy.md, "Where personal data lives")."""

    contacts = serializers.IntegerField()
    linkRecords = serializers.IntegerField(source="link_records")
    heldMerges = serializers.IntegerField(source="held_merges")
    blockedValues = serializers.IntegerField(source="blocked_values")
    historyEvents = serializers.IntegerField(source="history_events", help_text="Scrubbed.")
    adminLogEntries = serializers.IntegerField(source="admin_log_entries", help_text="Scrubbed.")


class ErasedIdentifierSerializer(serializers.Serializer):
    """One erased value as the ledger keeps it: a keyed hash, never the value."""

    kind = serializers.ChoiceField(choices=["email", "phone"])
    digest = serializers.CharField(help_text="HMAC-SHA256 of the canonical value, hex.")
    contacts = serializers.IntegerField(help_text="Erased contacts that carried it.")
    suppress = serializers.BooleanField()


class ExportContactSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.CharField(allow_null=True)
    phoneNumber = serializers.CharField(allow_null=True)
    linkedId = serializers.IntegerField(allow_null=True)
    linkPrecedence = serializers.ChoiceField(choices=LinkPrecedence.values)
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()
    deletedAt = serializers.DateTimeField(allow_null=True, help_text="Set when soft-deleted.")


class ExportLinkRecordSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.CharField()
    phoneNumber = serializers.CharField()
    source = serializers.ChoiceField(choices=Source.values)
    createdAt = serializers.DateTimeField()


class ExportEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField(help_text=f"One of {', '.join(EventKind.values)}.")
    source = serializers.ChoiceField(choices=Source.values)
    contactId = serializers.IntegerField()
    primaryId = serializers.IntegerField()
    details = serializers.JSONField()
    createdAt = serializers.DateTimeField()


class ExportHeldMergeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.CharField()
    phoneNumber = serializers.CharField()
    kind = serializers.CharField(help_text=f"One of {', '.join(HeldMergeKind.values)}.")
    status = serializers.ChoiceField(choices=HeldMergeStatus.values)
    firstSeenAt = serializers.DateTimeField()
    lastSeenAt = serializers.DateTimeField()
    occurrences = serializers.IntegerField()


class ErrorSerializer(serializers.Serializer):
    """The one error shape of the whole API (docs/api.md)."""

    detail = serializers.CharField(help_text="What is wrong, for people.")
    code = serializers.CharField(help_text="What is wrong, for programs.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Messages per request field, for invalid input.",
    )


class LivenessSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok"])


class ReadinessChecksSerializer(serializers.Serializer):
    database = serializers.ChoiceField(choices=["ok", "unreachable"])
    migrations = serializers.ChoiceField(
        choices=["ok", "pending"], required=False, help_text="Absent when the database is not."
    )
    settings = serializers.ChoiceField(
        choices=["ok", "missing"],
        required=False,
        help_text="Whether the session has the timeouts every request relies on "
        "(`manage.py database_settings`); absent when the database is unreachable.",
    )
    replica = serializers.ChoiceField(
        choices=["ok", "lagging", "unreachable", "not a standby"],
        required=False,
        help_text="The read replica (`DATABASE_REPLICA_URL`), when there is one: `ok`, or why "
        "reads go to the primary instead. It never makes the service unready.",
    )


class ReadinessSerializer(serializers.Serializer):
    """A ``contacts.health.Readiness`` that is ready."""

    status = serializers.ChoiceField(choices=["ok"])
    checks = ReadinessChecksSerializer()


class NotReadySerializer(serializers.Serializer):
    """A ``contacts.health.Readiness`` that is not ready: the checks, and what to fix."""

    status = serializers.ChoiceField(choices=["unavailable"])
    checks = ReadinessChecksSerializer()
    detail = serializers.CharField(help_text="What is not ready and how to fix it.")
    code = serializers.CharField(help_text="`unavailable`, as in the error shape.")


def represent(serializer_class: type[serializers.Serializer], instance: object) -> dict:
    """The JSON body of ``instance`` as ``serializer_class`` describes it.

    DRF copies every declared field each time a serializer is built, which costs more than the rest
    of building an answer; ``to_representation`` keeps no state on the serializer, so one bound
    instance per class serves every request and thread.
    """
    return _bound(serializer_class).to_representation(instance)


def validated(serializer_class: type[serializers.Serializer], data: object) -> dict:
    """``data`` validated by ``serializer_class``; ``ValidationError`` (a ``400``) if invalid.

    ``is_valid`` without a serializer per request, for the reason ``represent`` gives:
    ``run_validation`` keeps no state on the serializer either. Invalid data, the rare case, goes
    through ``is_valid`` itself, which words some errors its own way (a ``null`` body is "No data
    provided").
    """
    try:
        return _bound(serializer_class).run_validation(data)
    except serializers.ValidationError:
        serializer_class(data=data).is_valid(raise_exception=True)
        raise


@functools.cache
def _bound(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    return serializer_class()


def error_body(*, detail: str, code: str, errors: dict[str, list[str]] | None = None) -> dict:
    """The error shape's body; ``errors`` only for invalid input."""
    body = {"detail": detail, "code": code}
    if errors is not None:
        body["errors"] = errors
    return represent(ErrorSerializer, body)
