"""Identity events, their streams and sequencer, and their delivery to webhook endpoints
(docs/events.md)."""

from django.db import models
from django.db.models import Q
from django.db.models.functions import Now


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
