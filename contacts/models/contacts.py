"""Contacts and the observations that link them (SPEC §2, §3): fields, constraints, indexes, and
the history of every change to a cluster.

Only ``contacts.services`` writes ``linked_id`` and ``link_precedence``.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from contacts.normalize import EMAIL_MAX_LENGTH, PHONE_MAX_LENGTH

LIVE = Q(deleted_at__isnull=True)


class LinkPrecedence(models.TextChoices):
    PRIMARY = "primary", "Primary"
    SECONDARY = "secondary", "Secondary"


class Source(models.TextChoices):
    """Where a write came from, for link records and the history."""

    API = "api", "API"
    ADMIN = "admin", "Admin"
    COMMAND = "command", "Management command"


class EventKind(models.TextChoices):
    PRIMARY_CREATED = "primary_created", "Primary created"
    SECONDARY_ADDED = "secondary_added", "Secondary added"
    MERGED = "merged", "Clusters merged"
    SPLIT = "split", "Cluster split"
    EDITED = "edited", "Contact edited"
    DELETED = "deleted", "Contact soft-deleted"
    RESTORED = "restored", "Contact restored"
    REPAIRED = "repaired", "Links repaired"
    CANONICALIZED = "canonicalized", "Identifiers canonicalized"
    ERASED = "erased", "Contact erased"
    HELD = "held", "Merge held"
    DECIDED = "decided", "Held merge decided"


class LiveContactManager(models.Manager["Contact"]):
    def get_queryset(self) -> models.QuerySet["Contact"]:
        return super().get_queryset().filter(LIVE)


class Contact(models.Model):
    """One email and/or phone number a customer used, linked to the primary of its cluster.

    ``created_at`` defaults to the database clock (``STATEMENT_TIMESTAMP()`` on PostgreSQL), so that
    the order of contacts does not depend on the clocks of the app servers; see
    docs/concurrency.md.
    """

    id = models.BigAutoField(primary_key=True)
    # NULL, not "", means "no email" / "no phone" (SPEC §2): the constraints and the partial
    # indexes rely on it.
    email = models.CharField(max_length=EMAIL_MAX_LENGTH, null=True, blank=True)  # noqa: DJ001
    phone_number = models.CharField(  # noqa: DJ001
        max_length=PHONE_MAX_LENGTH, null=True, blank=True
    )
    # No constraint in the database: its check on deleting a contact (an erasure) is a scan of
    # the table per row, no index covering every secondary (docs/privacy.md); the services keep
    # every link pointing at a live primary, which reconcile --check verifies.
    linked = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="secondaries",
        db_index=False,
        db_constraint=False,
        help_text="The primary contact of this contact's cluster; empty on a primary.",
    )
    link_precedence = models.CharField(
        max_length=9, choices=LinkPrecedence.choices, default=LinkPrecedence.PRIMARY
    )
    created_at = models.DateTimeField(db_default=Now())
    updated_at = models.DateTimeField(db_default=Now())
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = models.Manager()
    live = LiveContactManager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(email__isnull=False) | Q(phone_number__isnull=False),
                name="contact_has_email_or_phone",
            ),
            models.CheckConstraint(
                condition=~Q(email="") & ~Q(phone_number=""),
                name="contact_identifiers_not_empty",
            ),
            models.CheckConstraint(
                condition=(
                    Q(link_precedence=LinkPrecedence.PRIMARY, linked__isnull=True)
                    | Q(link_precedence=LinkPrecedence.SECONDARY, linked__isnull=False)
                ),
                name="contact_primary_iff_unlinked",
            ),
            models.CheckConstraint(
                condition=~Q(linked=models.F("id")),
                name="contact_not_linked_to_itself",
            ),
        ]
        indexes = [
            models.Index(fields=["email"], condition=LIVE, name="contact_live_email"),
            models.Index(fields=["phone_number"], condition=LIVE, name="contact_live_phone"),
            models.Index(fields=["linked"], condition=LIVE, name="contact_live_linked"),
        ]

    def __str__(self) -> str:
        identifiers = " / ".join(value for value in (self.email, self.phone_number) if value)
        return f"#{self.id} {identifiers}"

    @property
    def is_primary(self) -> bool:
        return self.link_precedence == LinkPrecedence.PRIMARY


class PrimaryContactManager(models.Manager["Cluster"]):
    def get_queryset(self) -> models.QuerySet["Cluster"]:
        return super().get_queryset().filter(LIVE, linked__isnull=True)


class Cluster(Contact):
    """A live primary seen as the whole cluster it leads: what support staff browse in the admin."""

    objects = PrimaryContactManager()

    class Meta:
        proxy = True
        default_manager_name = "objects"
        verbose_name = "identity cluster"


class IdentityLink(models.Model):
    """An email and a phone number seen together in one request that bridged two clusters.

    No contact row holds this pair (SPEC §4 rule 3), so without this record the graph could not be
    rebuilt from stored rows (SPEC §3). It counts only while both identifiers are on live contacts.
    """

    id = models.BigAutoField(primary_key=True)
    email = models.CharField(max_length=EMAIL_MAX_LENGTH)
    phone_number = models.CharField(max_length=PHONE_MAX_LENGTH)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.API)
    created_at = models.DateTimeField(db_default=Now())
    blocked = models.BooleanField(
        default=False,
        db_default=False,
        help_text="One of its values is blocked (docs/governance.md): the record is not an edge.",
    )

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["email", "phone_number"], name="identity_link_pair"),
        ]
        indexes = [models.Index(fields=["phone_number"], name="identity_link_phone")]

    def __str__(self) -> str:
        return f"{self.email} ↔ {self.phone_number}"


class ClusterEvent(models.Model):
    """One change to the links between contacts: the append-only history of every cluster.

    Written by ``contacts.services`` in the transaction that makes the change. An event names the
    contact it is about and the primary that contact belongs to right after the change, so a
    cluster's history is every event about any of its contacts, and survives merges and splits.
    ``details`` says how: the request that bridged two clusters, the winner and loser of a merge,
    the old and new values of an edit.

    ``contact_id`` and ``primary_id`` are plain numbers, not foreign keys: an erased contact's row
    is deleted while the events about it stay, with their values removed (docs/privacy.md).
    """

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    source = models.CharField(max_length=16, choices=Source.choices)
    contact_id = models.BigIntegerField(db_index=True)
    primary_id = models.BigIntegerField(db_index=True)
    details = models.JSONField(default=dict, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The staff user who made the change, for changes made in the admin.",
        # Indexed below for the admin's events only: every /identify/ write appends events without
        # a user, and a full index on the column cost ~11% of PostgreSQL's CPU per new contact.
        db_index=False,
    )
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(
                fields=["user"], condition=Q(user__isnull=False), name="cluster_event_by_user"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: #{self.contact_id} in cluster #{self.primary_id}"


class IdentifierKind(models.TextChoices):
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone number"
