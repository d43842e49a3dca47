"""Webhook deliveries to a real HTTP receiver on 127.0.0.1 (docs/events.md): signed the Standard
Webhooks way, at least once, in order per identity while attempts succeed, retried with backoff,
dead-lettered without blocking what follows, and never sent by two workers at once."""

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from contacts.models import DeliveryLane, DeliveryStatus, WebhookDelivery
from contacts.services.events import events_sequence
from contacts.services.webhooks import (
    deliveries_claim,
    deliveries_redeliver,
    deliveries_send_due,
    webhook_endpoint_create,
    webhook_endpoint_enable,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def endpoint(receiver):
    created = webhook_endpoint_create(url=receiver.url, event_types=[])
    receiver.secret = created.secret
    return created


def deliver() -> None:
    """Sequence, then send until nothing is due."""
    events_sequence()
    while deliveries_send_due().sent:
        pass


def make_due() -> None:
    WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).update(
        next_attempt_at=timezone.now()
    )


def customers(identify, count: int) -> list[int]:
    return [
        identify(email=f"c{index}@example.com", phone=f"55500{index}")["primaryContactId"]
        for index in range(count)
    ]


@pytest.mark.usefixtures("endpoint")
class TestSigning:
    def test_every_delivery_verifies_with_the_reference_library(self, identify, receiver):
        customers(identify, 3)
        identify(email="c0@example.com", phone="555001")

        deliver()

        assert receiver.types() == ["identity.created"] * 3 + ["identity.merged"]
        assert all(received.verified for received in receiver.received)
        assert [received.event_id for received in receiver.received] == [
            received.payload["id"] for received in receiver.received
        ]

    def test_a_body_changed_in_transit_does_not_verify(self, identify, receiver):
        customers(identify, 1)
        deliver()
        (received,) = receiver.received

        assert not receiver.verifies(received.headers, received.body.replace(b"created", b"merged"))

    def test_another_endpoints_secret_does_not_verify(self, identify, receiver):
        customers(identify, 1)
        deliver()
        (received,) = receiver.received
        receiver.secret = webhook_endpoint_create(url=receiver.url, event_types=[]).secret

        assert not receiver.verifies(received.headers, received.body)


@pytest.mark.usefixtures("endpoint")
class TestAtLeastOnce:
    def test_a_failing_receiver_gets_every_event_once_it_recovers(self, identify, receiver):
        receiver.status = 503
        customers(identify, 3)
        deliver()
        failed_ids = [received.event_id for received in receiver.received]
        assert WebhookDelivery.objects.filter(attempts=1, last_status_code=503).count() == 3

        receiver.status = 204
        make_due()
        deliver()

        delivered = receiver.received[len(failed_ids) :]
        assert sorted(received.event_id for received in delivered) == sorted(failed_ids)
        assert set(WebhookDelivery.objects.values_list("status", "attempts")) == {
            (DeliveryStatus.DELIVERED, 2)
        }
        assert not DeliveryLane.objects.exists()

    def test_a_stopped_receiver_is_a_failed_attempt_with_a_backoff(self, identify, receiver):
        receiver.stop()
        customers(identify, 1)
        before = timezone.now()

        deliver()

        delivery = WebhookDelivery.objects.get()
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
        assert delivery.last_error == "connection failed"
        assert delivery.next_attempt_at > before
        receiver.start()
        deliver()
        assert receiver.received == []

    @override_settings(WEBHOOK_TIMEOUT=1)
    def test_a_receiver_that_does_not_answer_in_time_is_a_failure(self, identify, receiver):
        receiver.delay = 1.5
        customers(identify, 1)

        deliver()

        assert WebhookDelivery.objects.get().last_error == "no answer within 1 s"

    def test_a_redirect_is_a_failure(self, identify, receiver):
        receiver.status = 302
        customers(identify, 1)

        deliver()

        assert WebhookDelivery.objects.get().status == DeliveryStatus.PENDING

    def test_a_worker_that_dies_after_its_claim_loses_nothing(self, identify, receiver):
        customers(identify, 2)
        events_sequence()
        claimed = deliveries_claim(limit=10, now=timezone.now())
        assert len(claimed) == 2

        deliver()
        assert receiver.received == []

        WebhookDelivery.objects.update(leased_until=timezone.now() - timedelta(seconds=1))
        deliver()
        assert len(receiver.received) == 2
        assert not WebhookDelivery.objects.exclude(status=DeliveryStatus.DELIVERED).exists()


@pytest.mark.usefixtures("endpoint")
class TestOrder:
    def test_an_identity_waits_for_its_failing_event_while_others_go_on(self, identify, receiver):
        first, second = customers(identify, 2)
        receiver.status = 500
        deliver()
        receiver.status = 204
        WebhookDelivery.objects.filter(identity_id=first).update(next_attempt_at=timezone.now())
        WebhookDelivery.objects.filter(identity_id=second).update(
            next_attempt_at=timezone.now() + timedelta(hours=1)
        )
        identify(email="c1@example.com", phone="555999")

        deliver()

        delivered = WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERED)
        assert list(delivered.values_list("identity_id", flat=True)) == [first]

        make_due()
        deliver()
        second_stream = [
            received.payload["sequence"]
            for received in receiver.received
            if received.payload["identityId"] == second
        ]
        assert second_stream == [1, 1, 2]

    def test_a_merge_waits_for_the_merged_identitys_events(self, identify, receiver):
        loser = customers(identify, 2)[1]
        events_sequence()
        WebhookDelivery.objects.filter(identity_id=loser).update(
            next_attempt_at=timezone.now() + timedelta(hours=1)
        )
        identify(email="c0@example.com", phone="555001")

        deliver()

        assert receiver.types() == ["identity.created"]
        make_due()
        deliver()
        assert receiver.types() == ["identity.created", "identity.created", "identity.merged"]

    @override_settings(WEBHOOK_RETRY_PERIOD=60)
    def test_a_dead_letter_does_not_block_what_follows(self, identify, receiver):
        (customer,) = customers(identify, 1)
        receiver.status = 500
        deliver()
        WebhookDelivery.objects.update(created_at=timezone.now() - timedelta(minutes=2))
        make_due()
        deliver()
        assert WebhookDelivery.objects.get().status == DeliveryStatus.DEAD

        receiver.status = 204
        identify(email="c0@example.com", phone="555777")
        deliver()

        assert receiver.received[-1].payload["sequence"] == 2
        assert receiver.received[-1].payload["identityId"] == customer

    def test_a_redelivered_dead_letter_is_sent_again(self, identify, receiver):
        customers(identify, 1)
        receiver.status = 500
        deliver()
        WebhookDelivery.objects.update(status=DeliveryStatus.DEAD)
        receiver.status = 204

        assert deliveries_redeliver(deliveries=WebhookDelivery.objects.all()) == 1
        assert DeliveryLane.objects.count() == 1
        deliver()

        assert WebhookDelivery.objects.get().status == DeliveryStatus.DELIVERED
        assert receiver.received[0].event_id == receiver.received[-1].event_id


class TestEndpoints:
    def test_an_endpoint_gets_only_the_types_it_asked_for(self, identify, receiver):
        receiver.secret = webhook_endpoint_create(
            url=receiver.url, event_types=["identity.merged"]
        ).secret
        customers(identify, 2)
        identify(email="c0@example.com", phone="555001")

        deliver()

        assert receiver.types() == ["identity.merged"]

    def test_a_disabled_endpoint_is_sent_nothing(self, identify, receiver, endpoint):
        webhook_endpoint_enable(endpoint=endpoint, enabled=False)
        customers(identify, 1)

        deliver()

        assert receiver.received == []
        assert not WebhookDelivery.objects.exists()

    def test_unknown_event_types_are_refused(self, receiver):
        with pytest.raises(ValueError, match=r"identity\.unknown"):
            webhook_endpoint_create(url=receiver.url, event_types=["identity.unknown"])


@pytest.mark.postgres
@pytest.mark.usefixtures("endpoint")
def test_two_workers_never_send_one_event_at_the_same_time(identify, receiver):
    """Four workers, each on its own connection, drain the same deliveries while the receiver
    answers slowly: every event arrives exactly once."""
    for index in range(40):
        identify(email=f"w{index}@example.com")
    events_sequence()
    receiver.delay = 0.02
    start = threading.Barrier(4)

    def worker() -> None:
        try:
            start.wait()
            while deliveries_send_due(limit=5).sent:
                pass
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    counts = Counter(received.event_id for received in receiver.received)
    assert len(counts) == 40
    assert set(counts.values()) == {1}


@pytest.mark.postgres
@pytest.mark.usefixtures("endpoint")
def test_a_worker_killed_while_sending_loses_nothing(identify, receiver):
    """A real ``deliver_events`` process is killed (SIGKILL) while the receiver holds its
    requests; once its leases run out, another worker delivers every event, the interrupted ones
    again with the same ids."""
    customers(identify, 3)
    receiver.delay = 2.0
    database = connection.settings_dict
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "deliver_events", "--interval", "0.1"],
        cwd=settings.BASE_DIR,
        env={
            **os.environ,
            "DATABASE_URL": (
                f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
                f"{database['NAME']}"
            ),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not WebhookDelivery.objects.filter(leased_until__isnull=False).exists():
            assert time.monotonic() < deadline, "the worker never claimed a delivery"
            time.sleep(0.05)
    finally:
        worker.kill()
        worker.wait()
    assert not WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERED).exists()

    receiver.delay = 0.0
    WebhookDelivery.objects.update(leased_until=timezone.now() - timedelta(seconds=1))
    deliver()

    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {
        DeliveryStatus.DELIVERED
    }
    assert len({received.event_id for received in receiver.received}) == 3
