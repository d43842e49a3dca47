"""Identifier governance (docs/governance.md): blocked values, the token of the decisions, held
merges and raised size limits."""

from django.conf import settings
from django.db import models
from django.db.models.functions import Now

from contacts.models.contacts import IdentifierKind
from contacts.normalize import EMAIL_MAX_LENGTH, PHONE_MAX_LENGTH


class MatchType(models.TextChoices):
    EXACT = "exact", "Exact value"
    PATTERN = "pattern", "Pattern (a regular expression matching the whole value)"


PATTERN_MAX_LENGTH = 200


class BlockedIdentifier(models.Model):
    """A value that is not a node of the identity graph (docs/governance.md): a placeholder or a
    shared value that must never link strangers. Written only by ``contacts.services.governance``.
    """

    kind = models.CharField(max_length=5, choices=IdentifierKind.choices)
    match = models.CharField(max_length=7, choices=MatchType.choices, default=MatchType.EXACT)
    value = models.CharField(
        max_length=max(EMAIL_MAX_LENGTH, PHONE_MAX_LENGTH, PATTERN_MAX_LENGTH),
        help_text="The canonical value, or a pattern that must match the whole canonical value.",
    )
    reason = models.CharField(max_length=200)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["kind", "match", "value"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "match", "value"], name="blocked_identifier"),
        ]
        permissions = [("govern_identifiers", "Can block identifiers and decide held merges")]

    def __str__(self) -> str:
        shown = self.value if self.match == MatchType.EXACT else f"/{self.value}/"
        return f"{self.get_kind_display()} {shown}"


class GovernanceVersion(models.Model):
    """One row whose token changes with every governance decision (a block, an unblock, a
    never-link pair, a cluster's raised limit): each process caches the decisions and compares
    this token, read by the statements ``/identify/`` already sends (docs/governance.md).

    A random token rather than a counter: a rolled-back change must not leave a token that a later
    change reuses with other decisions."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    token = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"Governance decisions, token {self.token}"


class HeldMergeKind(models.TextChoices):
    MERGE = "merge", "Merge of two identities"
    GROWTH = "growth", "New contact in an identity at its limit"


class HeldMergeStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class HeldMerge(models.Model):
    """A write that would have taken an identity past ``IDENTITY_MAX_CLUSTER_SIZE``, kept for a
    person to decide (docs/governance.md). One row per email and phone number pair, counted up
    each time a request brings the pair again; nothing the requests brought is lost."""

    email = models.CharField(max_length=EMAIL_MAX_LENGTH)
    phone_number = models.CharField(max_length=PHONE_MAX_LENGTH)
    kind = models.CharField(max_length=6, choices=HeldMergeKind.choices)
    primary_id = models.BigIntegerField(
        help_text="The older primary: the identity the requests were answered with."
    )
    other_primary_ids = models.JSONField(default=list, blank=True)
    size = models.PositiveIntegerField(help_text="Live contacts the identity would have had.")
    limit = models.PositiveIntegerField(help_text="The limit it would have passed.")
    first_seen_at = models.DateTimeField(db_default=Now())
    last_seen_at = models.DateTimeField(db_default=Now())
    occurrences = models.PositiveIntegerField(default=1)
    status = models.CharField(
        max_length=8, choices=HeldMergeStatus.choices, default=HeldMergeStatus.PENDING
    )
    never_link = models.BooleanField(
        default=False, help_text="Rejected for good: this pair never joins two identities."
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["email", "phone_number"], name="held_merge_pair"),
        ]
        indexes = [models.Index(fields=["status", "last_seen_at"], name="held_merge_queue")]

    def __str__(self) -> str:
        others = ", ".join(f"#{primary_id}" for primary_id in self.other_primary_ids)
        joined = f" + {others}" if others else " + a new contact"
        return f"Held: #{self.primary_id}{joined}"


class ClusterLimit(models.Model):
    """A raised size limit, approved by a person, for the identity that holds ``contact_id``
    (whatever its primary is later); the largest limit among an identity's contacts applies."""

    contact_id = models.BigIntegerField(unique=True)
    max_size = models.PositiveIntegerField()
    held_merge = models.ForeignKey(HeldMerge, null=True, blank=True, on_delete=models.SET_NULL)
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(db_default=Now())

    def __str__(self) -> str:
        return f"Identity of #{self.contact_id}: up to {self.max_size} contacts"
