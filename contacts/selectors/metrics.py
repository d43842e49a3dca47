"""What ``GET /metrics`` reads from the database when it is scraped (docs/operations.md,
"Metrics"): the work waiting for a person or for the events worker.

Each read is one statement over an index that holds only what is waiting (or, for the history,
the rows above the sequencer's floor), so a scrape costs the same however large the tables grow.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef, Subquery
from django.db.models.functions import Coalesce

from contacts.models import (
    ClusterEvent,
    DeliveryStatus,
    EventSequencer,
    HeldMerge,
    HeldMergeStatus,
    OutboxEvent,
    WebhookDelivery,
)


@dataclass(frozen=True)
class Backlog:
    held_merges_pending: int
    oldest_unsequenced_at: datetime | None
    """When the oldest committed history row that is not an event yet was written."""
    deliveries_pending: int
    """Webhook deliveries to enabled endpoints not yet delivered (nor dead-lettered)."""
    oldest_pending_event_at: datetime | None
    """When the change of the oldest event among those deliveries committed."""


def operations_backlog() -> Backlog:
    """The held merges waiting for a decision, and the events waiting to be sequenced or sent.

    A disabled endpoint's deliveries wait on purpose (docs/events.md), so they are left out.
    """
    floor = Coalesce(Subquery(EventSequencer.objects.filter(id=1).values("floor")), 0)
    # The events' side is bounded by the floor too: otherwise PostgreSQL may merge the rows
    # above the floor with every event ever sequenced.
    sequenced = OutboxEvent.objects.filter(history_id=OuterRef("id"), history_id__gt=floor)
    unsequenced = (
        ClusterEvent.objects.filter(id__gt=floor).exclude(Exists(sequenced)).order_by("id")
    )
    pending = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, endpoint__enabled=True)
    return Backlog(
        held_merges_pending=HeldMerge.objects.filter(status=HeldMergeStatus.PENDING).count(),
        oldest_unsequenced_at=unsequenced.values_list("created_at", flat=True).first(),
        deliveries_pending=pending.count(),
        oldest_pending_event_at=pending.order_by("event_id")
        .values_list("event__occurred_at", flat=True)
        .first(),
    )
