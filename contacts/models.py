"""Contacts and the observations that link them (SPEC §2, §3): fields, constraints, indexes.

Only ``contacts.services`` writes ``linked_id`` and ``link_precedence``.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from rest_framework_api_key.models import AbstractAPIKey

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


class Scope(models.TextChoices):
    """What an API key may do. ``identify`` includes everything ``lookup`` may."""

    IDENTIFY = "identify", "identify: POST /identify/ and the read endpoints"
    LOOKUP = "lookup", "lookup: the read endpoints only"
    PRIVACY = "privacy", "privacy: erasures and exports of a person's data (/privacy/)"
    EVENTS = "events", "events: the feed of identity events (/events/)"


class ApiKey(AbstractAPIKey):
    """A client's key (a shop's backend, an integration), stored as its SHA-512 hash.

    The key is shown once, when it is made; ``prefix`` (its first 8 characters) names it in logs
    and in the admin. ``last_used_at`` is written at most once a minute
    (``contacts.services.api_keys``).
    """

    scopes = models.JSONField(
        default=list,
        help_text="What the key may call: identify, lookup, privacy, events (docs/api.md).",
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"


class IdentifierKind(models.TextChoices):
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone number"


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


class OutboxEvent(models.Model):
    """One identity event (docs/events.md), made by the sequencer from one history row once that
    row's transaction committed: the order of ``id`` is the order of the pull feed, and within one
    identity the order of ``sequence``. ``data`` holds ids only, never an email or phone number.

    ``streams`` lists every identity whose stream the event is part of, with its place there
    (``[[identity_id, sequence], …]``, ``identity_id``'s first): a merge is in the winner's and
    the loser's."""

    id = models.BigAutoField(primary_key=True)
    history_id = models.BigIntegerField(unique=True)
    type = models.CharField(max_length=40)
    identity_id = models.BigIntegerField()
    sequence = models.PositiveBigIntegerField()
    streams = models.JSONField(default=list)
    data = models.JSONField(default=dict)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["id"]
        verbose_name = "identity event"

    def __str__(self) -> str:
        return f"evt_{self.id} {self.type} #{self.identity_id} (sequence {self.sequence})"


class IdentityStream(models.Model):
    """The last sequence number given in one identity's stream of events."""

    identity_id = models.BigIntegerField(primary_key=True)
    last_sequence = models.PositiveBigIntegerField()

    def __str__(self) -> str:
        return f"Identity #{self.identity_id}: {self.last_sequence} events"


class EventSequencer(models.Model):
    """The sequencer's place in the history: every history row with ``id <= floor`` is settled
    and sequenced; ``checkpoints`` are the later ids waiting for their transactions to settle
    (docs/events.md). One row; the sequencer holds its lock while it runs."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    floor = models.BigIntegerField(default=0)
    checkpoints = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"Events sequenced up to history #{self.floor}"


class WebhookEndpoint(models.Model):
    """A URL of the shop's that receives identity events, signed the Standard Webhooks way with
    ``secret`` (docs/events.md). Written by ``contacts.services.webhooks``."""

    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(
        default=list, blank=True, help_text="The event types it receives; empty: every type."
    )
    secret = models.CharField(max_length=100, editable=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["id"]
        verbose_name = "webhook endpoint"

    def __str__(self) -> str:
        return f"Webhook #{self.id} {self.url}"

    def receives(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    DEAD = "dead", "Dead letter"


class WebhookDelivery(models.Model):
    """One event for one endpoint: tried until the endpoint answers 2xx, with backoff, then
    dead-lettered (docs/events.md). ``leased_until`` marks it in flight for one worker."""

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    identity_id = models.BigIntegerField(help_text="The identity the event is about.")
    status = models.CharField(
        max_length=9, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_default=Now())
    leased_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["-id"]
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="webhook_delivery_once"),
        ]
        indexes = [
            models.Index(fields=["event"], condition=Q(status="pending"), name="webhook_pending"),
        ]

    def __str__(self) -> str:
        return f"Delivery #{self.id}: evt_{self.event_id} to webhook #{self.endpoint_id}"


class DeliveryLane(models.Model):
    """A pending delivery's place in the queue of one identity whose stream its event is part
    of, for its endpoint: a delivery waits while an earlier one shares a lane with it (a merge
    waits for the events of both identities). Only pending deliveries have lanes, so the queues
    stay as short as what is waiting."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="lanes")
    endpoint_id = models.BigIntegerField()
    identity_id = models.BigIntegerField()
    event_id = models.BigIntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["endpoint_id", "identity_id", "event_id"], name="delivery_lane"),
        ]

    def __str__(self) -> str:
        return f"Lane of identity #{self.identity_id} for delivery #{self.delivery_id}"
