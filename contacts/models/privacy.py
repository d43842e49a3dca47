"""Erasures of a person's data and their ledger of keyed hashes (docs/privacy.md)."""

from django.conf import settings
from django.db import models
from django.db.models.functions import Now

from contacts.models.contacts import IdentifierKind, Source


class ErasureScope(models.TextChoices):
    IDENTIFIER = "identifier", "The contacts carrying the identifier"
    IDENTITY = "identity", "Every contact of the identity"


class Erasure(models.Model):
    """The fact that a person's data was erased (docs/privacy.md): who asked, when, why, how much
    went. It holds no email or phone number; its ``identifiers`` say which values went only as
    keyed hashes."""

    scope = models.CharField(max_length=10, choices=ErasureScope.choices)
    subject = models.CharField(
        max_length=7, help_text="What named the person: an email, a phone number or a contact id."
    )
    subject_contact_id = models.BigIntegerField(null=True, blank=True)
    reason = models.CharField(max_length=500)
    source = models.CharField(max_length=16, choices=Source.choices)
    requested_by = models.CharField(
        max_length=150, help_text="The staff user, the API key's prefix, or the command."
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    request_id = models.CharField(
        max_length=100,
        null=True,
        blank=True,
        unique=True,
        help_text="The caller's idempotency key: the same key answers the same erasure.",
    )
    suppress = models.BooleanField(
        default=False, help_text="Later requests carrying an erased value are refused."
    )
    replayed = models.BooleanField(
        default=False, help_text="Applied again from the ledger after a restore."
    )
    counts = models.JSONField(default=dict, blank=True)
    contact_ids = models.JSONField(default=list, blank=True, help_text="The erased contacts.")
    primary_ids = models.JSONField(
        default=list, blank=True, help_text="The primaries of what was left, after the erasure."
    )
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("erase_person", "Can erase a person's data")]

    def __str__(self) -> str:
        return f"Erasure #{self.id} ({self.get_scope_display().lower()})"


class ErasedIdentifier(models.Model):
    """The erasure ledger: one erased value as a keyed hash (HMAC-SHA256 with
    ``PRIVACY_HASH_KEY``), never the value. ``erase_person --replay-ledger`` finds the values
    again after a restore; a suppressed one refuses later requests (docs/privacy.md)."""

    erasure = models.ForeignKey(Erasure, on_delete=models.CASCADE, related_name="identifiers")
    kind = models.CharField(max_length=5, choices=IdentifierKind.choices)
    digest = models.CharField(max_length=64)
    suppress = models.BooleanField(default=False)
    contacts = models.PositiveIntegerField(default=0, help_text="Contacts that carried it.")
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["kind", "digest"], name="erased_identifier_digest")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.digest[:12]}…"
