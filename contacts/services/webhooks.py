"""Webhook endpoints and the delivery of identity events to them (docs/events.md).

A delivery is claimed in a short transaction (``FOR UPDATE SKIP LOCKED`` and a lease, so that
workers on several machines never send it at the same time), sent outside any transaction, and
its outcome recorded in another. A delivery is claimed only when no earlier pending delivery of the
same endpoint shares one of its lanes (the identities whose streams its event is part of): per
identity, in order while attempts succeed. Only pending deliveries have lanes.
"""

import base64
import json
import logging
import secrets
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from standardwebhooks import Webhook

from contacts.db import backend
from contacts.models import DeliveryLane, DeliveryStatus, WebhookDelivery, WebhookEndpoint
from contacts.rules.events import ALL_EVENT_TYPES, event_payload, retry_delay

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
USER_AGENT = "bitespeed-webhooks/1"
SEND_THREADS = 8
"""Deliveries sent at once by one worker: each to a different identity or endpoint."""


class UnknownEventTypes(ValueError):
    def __init__(self, types: Iterable[str]) -> None:
        self.types = sorted(types)
        super().__init__(
            f"unknown event types: {', '.join(self.types)}; known: {', '.join(ALL_EVENT_TYPES)}"
        )


def webhook_endpoint_create(
    *, url: str, event_types: list[str], description: str = ""
) -> WebhookEndpoint:
    """A new endpoint with a new signing secret, receiving ``event_types`` (empty: every type)
    from the next event sequenced on."""
    unknown = set(event_types) - set(ALL_EVENT_TYPES)
    if unknown:
        raise UnknownEventTypes(unknown)
    return WebhookEndpoint.objects.create(
        url=url,
        description=description,
        event_types=sorted(set(event_types)),
        secret=secret_new(),
    )


def webhook_endpoint_change(
    *, endpoint: WebhookEndpoint, url: str, description: str, event_types: list[str], enabled: bool
) -> None:
    """Point ``endpoint`` elsewhere or change what it receives, from the next event sequenced
    on; its secret stays."""
    unknown = set(event_types) - set(ALL_EVENT_TYPES)
    if unknown:
        raise UnknownEventTypes(unknown)
    endpoint.url, endpoint.description, endpoint.enabled = url, description, enabled
    endpoint.event_types = sorted(set(event_types))
    endpoint.save(update_fields=["url", "description", "event_types", "enabled"])


def secret_new() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def webhook_endpoint_enable(*, endpoint: WebhookEndpoint, enabled: bool) -> None:
    """Stop or resume sending to ``endpoint``; its pending deliveries wait while it is disabled,
    and no delivery is made for it for events sequenced meanwhile."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=enabled)
    endpoint.enabled = enabled


def deliveries_redeliver(*, deliveries: Iterable[WebhookDelivery]) -> int:
    """Send dead-lettered (or delivered) deliveries again, from now, with fresh attempts, each
    back in its identities' queues behind what is pending there."""
    with backend().write_turn(), transaction.atomic():
        again = list(
            WebhookDelivery.objects.filter(id__in=[delivery.id for delivery in deliveries])
            .exclude(status=DeliveryStatus.PENDING)
            .select_related("event")
            .select_for_update(of=("self",))
        )
        WebhookDelivery.objects.filter(id__in=[delivery.id for delivery in again]).update(
            status=DeliveryStatus.PENDING,
            attempts=0,
            next_attempt_at=timezone.now(),
            leased_until=None,
            created_at=timezone.now(),
        )
        DeliveryLane.objects.filter(delivery__in=again).delete()
        lanes_create(deliveries=again)
    return len(again)


def lanes_create(*, deliveries: list[WebhookDelivery]) -> None:
    """The lanes of pending deliveries: one per identity in the streams of each one's event."""
    DeliveryLane.objects.bulk_create(
        DeliveryLane(
            delivery_id=delivery.id,
            endpoint_id=delivery.endpoint_id,
            identity_id=identity_id,
            event_id=delivery.event_id,
        )
        for delivery in deliveries
        for identity_id, _sequence in delivery.event.streams
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    status_code: int | None
    error: str

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True, slots=True)
class RoundResult:
    delivered: int
    failed: int
    dead: int

    @property
    def sent(self) -> int:
        return self.delivered + self.failed


def deliveries_send_due(*, limit: int = 100) -> RoundResult:
    """Claim up to ``limit`` due deliveries, send them, record what the endpoints answered."""
    claimed = deliveries_claim(limit=limit, now=timezone.now())
    if not claimed:
        return RoundResult(delivered=0, failed=0, dead=0)
    outcomes = list(_senders().map(delivery_send, claimed))
    return deliveries_record(claimed=claimed, outcomes=outcomes, now=timezone.now())


def deliveries_claim(*, limit: int, now: datetime) -> list[WebhookDelivery]:
    """Lease up to ``limit`` due deliveries, the oldest events first, each the earliest pending
    one of its endpoint in each of its lanes."""
    earlier = DeliveryLane.objects.filter(
        endpoint_id=OuterRef("endpoint_id"),
        identity_id=OuterRef("identity_id"),
        event_id__lt=OuterRef("event_id"),
    )
    waiting = DeliveryLane.objects.filter(delivery_id=OuterRef("id")).filter(Exists(earlier))
    with backend().write_turn(), transaction.atomic():
        due = (
            WebhookDelivery.objects.filter(
                status=DeliveryStatus.PENDING, next_attempt_at__lte=now, endpoint__enabled=True
            )
            .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
            .exclude(Exists(waiting))
            .order_by("event_id")
            .select_for_update(skip_locked=True, of=("self",))
        )
        ids = list(due.values_list("id", flat=True)[:limit])
        WebhookDelivery.objects.filter(id__in=ids).update(
            leased_until=now + timedelta(seconds=settings.WEBHOOK_LEASE)
        )
    return list(
        WebhookDelivery.objects.filter(id__in=ids)
        .select_related("event", "endpoint")
        .order_by("event_id")
    )


def delivery_body(*, delivery: WebhookDelivery) -> str:
    event = delivery.event
    payload = event_payload(
        event_id=event.id,
        event_type=event.type,
        occurred_at=event.occurred_at,
        streams=event.streams,
        data=event.data,
    )
    return json.dumps(payload, separators=(",", ":"))


def delivery_send(delivery: WebhookDelivery) -> Outcome:
    """POST one event, signed with its endpoint's secret; no transaction is open meanwhile."""
    body = delivery_body(delivery=delivery)
    message_id = f"evt_{delivery.event_id}"
    sent_at = timezone.now()
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(delivery.endpoint.secret).sign(message_id, sent_at, body),
    }
    try:
        response = _session().post(
            delivery.endpoint.url,
            data=body.encode(),
            headers=headers,
            timeout=settings.WEBHOOK_TIMEOUT,
            allow_redirects=False,
        )
    except requests.Timeout:
        return Outcome(status_code=None, error=f"no answer within {settings.WEBHOOK_TIMEOUT} s")
    except requests.ConnectionError:
        return Outcome(status_code=None, error="connection failed")
    except requests.RequestException as error:
        return Outcome(status_code=None, error=type(error).__name__)
    response.close()
    error = "" if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
    return Outcome(status_code=response.status_code, error=error)


@cache
def _senders() -> ThreadPoolExecutor:
    """The worker's sending threads, kept for its life so that their sessions stay open."""
    return ThreadPoolExecutor(max_workers=SEND_THREADS, thread_name_prefix="webhook")


_sessions = threading.local()


def _session() -> requests.Session:
    """One keep-alive session per sending thread."""
    if not hasattr(_sessions, "session"):
        _sessions.session = requests.Session()
    return _sessions.session


def deliveries_record(
    *, claimed: list[WebhookDelivery], outcomes: list[Outcome], now: datetime
) -> RoundResult:
    """Delivered on a 2xx; otherwise due again after a backoff, or dead past the retry period."""
    delivered = failed = dead = 0
    finished: list[int] = []
    period = timedelta(seconds=settings.WEBHOOK_RETRY_PERIOD)
    with backend().write_turn(), transaction.atomic():
        for delivery, outcome in zip(claimed, outcomes, strict=True):
            attempts = delivery.attempts + 1
            fields = {
                "attempts": attempts,
                "last_attempt_at": now,
                "last_status_code": outcome.status_code,
                "last_error": outcome.error[:300],
                "leased_until": None,
            }
            if outcome.delivered:
                fields.update(status=DeliveryStatus.DELIVERED, delivered_at=now)
                delivered += 1
            else:
                next_attempt_at = now + retry_delay(attempts=attempts)
                if next_attempt_at > delivery.created_at + period:
                    fields.update(status=DeliveryStatus.DEAD)
                    dead += 1
                else:
                    fields.update(next_attempt_at=next_attempt_at)
                failed += 1
            WebhookDelivery.objects.filter(id=delivery.id, status=DeliveryStatus.PENDING).update(
                **fields
            )
            if fields.get("status") in (DeliveryStatus.DELIVERED, DeliveryStatus.DEAD):
                finished.append(delivery.id)
        DeliveryLane.objects.filter(delivery_id__in=finished).delete()
    if failed:
        logger.warning(
            "webhook deliveries failed",
            extra={"failed": failed, "dead": dead, "sent": len(claimed)},
        )
    return RoundResult(delivered=delivered, failed=failed, dead=dead)
