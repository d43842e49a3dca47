"""``manage.py webhooks`` and ``manage.py deliver_events`` against a real receiver on 127.0.0.1
that verifies every signature with the reference library (docs/events.md)."""

import signal
import threading
import time
from collections.abc import Callable, Iterator
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection, connections
from django.utils import timezone

from contacts.management.commands import deliver_events
from contacts.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from contacts.services.events import events_sequence
from contacts.tests.webhook_receiver import Receiver

# The worker's sending threads and its loop run as in production: on committed data.
pytestmark = pytest.mark.django_db(transaction=True)

SIGNAL_WAIT = 10.0
"""Seconds a test waits for the worker to deliver before it stops it anyway."""


def webhooks(*args: str) -> tuple[str, str]:
    """Run ``manage.py webhooks``; its stdout and stderr."""
    out, err = StringIO(), StringIO()
    call_command("webhooks", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def deliver_once() -> str:
    out = StringIO()
    call_command("deliver_events", "--once", stdout=out)
    return out.getvalue()


@pytest.fixture
def endpoint(receiver: Receiver) -> WebhookEndpoint:
    """The receiver's endpoint, added by the command; the receiver verifies with its secret."""
    secret, _ = webhooks("add", receiver.url)
    receiver.secret = secret.strip()
    return WebhookEndpoint.objects.get()


def bridge(identify: Callable[..., dict]) -> dict:
    """Two identities, then the order that joins them (the first's email, the second's phone);
    the merged identity."""
    identify(email="lorraine@example.com", phone="111111")
    identify(email="george@example.com", phone="222222")
    return identify(email="lorraine@example.com", phone="222222")


def wait_for(condition: Callable[[], bool]) -> None:
    """Until ``condition`` holds, or ``SIGNAL_WAIT`` seconds."""
    deadline = time.monotonic() + SIGNAL_WAIT
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


# --- manage.py webhooks ---------------------------------------------------------------------


def test_add_prints_the_signing_secret_once_and_the_receiver_verifies_it(receiver, identify):
    out, err = webhooks("add", receiver.url, "--description", "the shop's CRM")
    [endpoint] = WebhookEndpoint.objects.all()
    receiver.secret = out.strip()

    identify(email="lorraine@example.com", phone="123456")
    deliver_once()

    assert out == f"{endpoint.secret}\n"
    assert f"#{endpoint.id}" in err
    assert "will not be shown again" in err
    assert endpoint.description == "the shop's CRM"
    assert endpoint.event_types == []
    assert [received.verified for received in receiver.received] == [True]
    assert receiver.types() == ["identity.created"]


def test_add_keeps_the_chosen_event_types(receiver):
    webhooks("add", receiver.url, "--events", "identity.merged", "identity.erased")

    assert WebhookEndpoint.objects.get().event_types == ["identity.erased", "identity.merged"]


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://example.com/hooks", "Not an http or https URL"),
        ("example.com/hooks", "Not an http or https URL"),
        ("http://", "Not an http or https URL"),
        ("javascript:alert(1)", "Not an http or https URL"),
        (f"https://example.com/{'a' * 2000}", "longer than 2000 characters"),
    ],
)
def test_add_refuses_a_url_that_is_not_http_and_writes_nothing(url, problem):
    with pytest.raises(CommandError, match=problem):
        webhooks("add", url)

    assert not WebhookEndpoint.objects.exists()


def test_add_refuses_an_unknown_event_type_and_writes_nothing(receiver):
    with pytest.raises(CommandError, match=r"--events: unknown event types: identity\.nope"):
        webhooks("add", receiver.url, "--events", "identity.merged", "identity.nope")

    assert not WebhookEndpoint.objects.exists()


def test_add_refuses_a_description_too_long_for_its_column(receiver):
    with pytest.raises(CommandError, match="description is longer than 200"):
        webhooks("add", receiver.url, "--description", "x" * 201)

    assert not WebhookEndpoint.objects.exists()


def test_list_shows_each_endpoint_and_its_deliveries_never_its_secret(receiver, identify):
    crm, _ = webhooks("add", receiver.url)
    analytics, _ = webhooks(
        "add", "https://analytics.example.com/in", "--events", "identity.merged"
    )
    identify(email="lorraine@example.com", phone="123456")
    identify(email="george@example.com", phone="717171")
    events_sequence()
    first = WebhookEndpoint.objects.order_by("id").first()
    WebhookDelivery.objects.filter(id=first.deliveries.order_by("id").first().id).update(
        status=DeliveryStatus.DEAD
    )

    out, err = webhooks("list")

    lines = out.splitlines()
    assert lines[0].split() == ["id", "state", "pending", "dead", "url", "events"]
    assert lines[1].split() == [str(first.id), "enabled", "1", "1", receiver.url, "all"]
    assert lines[2].split() == [
        str(first.id + 1),
        "enabled",
        "0",
        "0",
        "https://analytics.example.com/in",
        "identity.merged",
    ]
    for secret in (crm.strip(), analytics.strip()):
        assert secret not in out + err
    assert "whsec_" not in out + err


def test_list_says_when_there_is_no_endpoint():
    out, _ = webhooks("list")

    assert out.startswith("No webhook endpoints")


def test_a_disabled_endpoint_gets_nothing_until_enabled_again(receiver, endpoint, identify):
    identify(email="lorraine@example.com", phone="123456")
    events_sequence()

    out, _ = webhooks("disable", str(endpoint.id))
    identify(email="george@example.com", phone="717171")
    deliver_once()

    assert "disabled" in out
    assert receiver.received == []
    assert "disabled" in webhooks("list")[0].splitlines()[1]
    # Events sequenced while it was disabled are not delivered to it; the pending one waited.
    assert endpoint.deliveries.count() == 1
    webhooks("enable", str(endpoint.id))
    deliver_once()
    assert receiver.types() == ["identity.created"]
    assert all(received.verified for received in receiver.received)


@pytest.mark.parametrize("action", ["disable", "enable"])
def test_disable_and_enable_name_a_missing_endpoint(action):
    with pytest.raises(CommandError, match="No webhook endpoint #404"):
        webhooks(action, "404")


# --- manage.py deliver_events --once --------------------------------------------------------


def test_a_merge_reaches_the_receiver_signed_and_a_failed_delivery_is_sent_again(
    receiver, endpoint, identify
):
    """Issue 17's Done-when: an order bridges two identities, the endpoint gets one
    identity.merged; while it is down the next merge is recorded as a failed attempt, and once
    it is back the same event is delivered with the same webhook-id."""
    merged = bridge(identify)

    summary = deliver_once()

    assert receiver.types() == ["identity.created", "identity.created", "identity.merged"]
    assert all(received.verified for received in receiver.received)
    assert len({received.event_id for received in receiver.received}) == 3
    merge = receiver.received[-1].payload
    assert merge["data"]["identityId"] == merged["primaryContactId"]
    assert summary.startswith("3 events sequenced; deliveries: 3 delivered, 0 failed")

    identify(email="marty@example.com", phone="333333")
    deliver_once()
    receiver.received.clear()
    receiver.stop()
    identify(email="lorraine@example.com", phone="333333")

    summary = deliver_once()

    [delivery] = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING)
    assert delivery.event.type == "identity.merged"
    assert (delivery.attempts, delivery.last_error) == (1, "connection failed")
    assert "1 failed (1 to be retried, 0 dead-lettered)" in summary

    receiver.start()
    WebhookDelivery.objects.filter(id=delivery.id).update(next_attempt_at=timezone.now())
    deliver_once()

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 2)
    [received] = receiver.received
    assert received.verified
    assert received.event_id == f"evt_{delivery.event_id}"
    assert received.payload["type"] == "identity.merged"


def test_every_attempt_of_a_delivery_carries_the_same_webhook_id(receiver, endpoint, identify):
    receiver.status = 503
    identify(email="lorraine@example.com", phone="123456")
    deliver_once()
    receiver.status = 204
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())

    deliver_once()

    first, second = receiver.received
    assert first.event_id == second.event_id
    assert [first.verified, second.verified] == [True, True]
    assert WebhookDelivery.objects.get().status == DeliveryStatus.DELIVERED


def test_once_logs_a_line_per_busy_round_with_counts_only(receiver, endpoint, identify, log_output):
    deliver_once()
    assert not [line for line in log_output() if line["logger"] == "contacts.events"]

    identify(email="lorraine@example.com", phone="123456")
    deliver_once()

    [line] = [line for line in log_output() if line["logger"] == "contacts.events"]
    assert (line["sequenced"], line["delivered"], line["failed"], line["dead"]) == (1, 1, 0, 0)
    assert "lorraine" not in str(line)
    assert "123456" not in str(line)


def test_once_sends_a_backlog_in_batches_of_the_limit(receiver, endpoint, identify):
    for number in range(5):
        identify(email=f"customer{number}@example.com", phone=f"55500{number}")

    out = StringIO()
    call_command("deliver_events", "--once", "--limit", "2", stdout=out)

    assert len(receiver.received) == 5
    assert "5 delivered" in out.getvalue()


@pytest.mark.parametrize(
    ("option", "problem"),
    [(("--interval", "0"), "--interval must be more than 0"), (("--limit", "0"), "at least 1")],
)
def test_bad_worker_options_are_refused(option, problem):
    with pytest.raises(CommandError, match=problem):
        call_command("deliver_events", "--once", *option)


# --- manage.py deliver_events, the long-running worker -------------------------------------


@pytest.fixture
def stop_when_delivered(receiver: Receiver) -> Iterator[Callable[[int], None]]:
    """Start a thread that sends SIGTERM to the main thread (the worker's) once the receiver got
    ``count`` deliveries, or after ``SIGNAL_WAIT`` seconds regardless."""
    threads = []

    def start(count: int) -> None:
        def stop() -> None:
            wait_for(lambda: len(receiver.received) >= count)
            signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)

        threads.append(threading.Thread(target=stop, daemon=True))
        threads[-1].start()

    yield start
    for thread in threads:
        thread.join(timeout=SIGNAL_WAIT)


def test_the_worker_delivers_until_sigterm_and_wakes_from_its_sleep_at_once(
    receiver, endpoint, identify, stop_when_delivered
):
    bridge(identify)
    handler = signal.getsignal(signal.SIGTERM)
    stop_when_delivered(2)

    started = time.monotonic()
    call_command("deliver_events", "--interval", "60", stdout=StringIO())

    # The first round sent both creations (the merge waits for them in its lanes), then the
    # worker slept: the signal woke it long before its 60 s, and it did not start another round.
    assert time.monotonic() - started < SIGNAL_WAIT / 2
    assert receiver.types() == ["identity.created", "identity.created"]
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).count() == 1
    assert signal.getsignal(signal.SIGTERM) == handler


def test_the_worker_outlives_a_round_the_database_failed(
    receiver, endpoint, identify, stop_when_delivered, monkeypatch, log_output
):
    identify(email="lorraine@example.com", phone="123456")
    failures = iter([OperationalError("the database restarted")])

    def sequence_after_a_failure() -> int:
        error = next(failures, None)
        if error is not None:
            raise error
        return events_sequence()

    monkeypatch.setattr(deliver_events, "events_sequence", sequence_after_a_failure)
    monkeypatch.setattr(deliver_events, "AFTER_ERROR_SECONDS", 0.05)
    stop_when_delivered(1)

    call_command("deliver_events", "--interval", "0.05", stdout=StringIO())

    assert receiver.types() == ["identity.created"]
    lines = [line for line in log_output() if line["logger"] == "contacts.events"]
    assert lines[0]["message"] == "events round failed"
    assert lines[0]["error"] == "OperationalError"
    assert lines[1]["delivered"] == 1


@pytest.mark.postgres
@pytest.mark.direct
def test_the_worker_reconnects_after_its_connection_is_ended(
    receiver, endpoint, identify, api_client, monkeypatch, log_output
):
    """As a database restart does: the server ends the worker's connection while it waits."""
    monkeypatch.setattr(deliver_events, "AFTER_ERROR_SECONDS", 0.05)
    identify(email="lorraine@example.com", phone="123456")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        [worker_pid] = cursor.fetchone()

    def restart_then_stop() -> None:
        try:
            wait_for(lambda: len(receiver.received) >= 1)
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [worker_pid])
            api_client.post(
                "/identify/",
                {"email": "george@example.com", "phoneNumber": "717171"},
                format="json",
            )
            wait_for(lambda: len(receiver.received) >= 2)
        finally:
            connections.close_all()
            signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)

    helper = threading.Thread(target=restart_then_stop, daemon=True)
    helper.start()
    call_command("deliver_events", "--interval", "0.05", stdout=StringIO())
    helper.join(timeout=SIGNAL_WAIT)

    assert receiver.types() == ["identity.created", "identity.created"]
    messages = [line["message"] for line in log_output() if line["logger"] == "contacts.events"]
    assert "events round failed" in messages


def test_the_worker_in_a_thread_stops_when_asked(receiver, endpoint, identify):
    """Without signals (not the main thread), ``stopping`` ends the loop after its round."""
    identify(email="lorraine@example.com", phone="123456")
    command = deliver_events.Command(stdout=StringIO())

    def work() -> None:
        try:
            command.handle(once=False, interval=0.05, limit=100)
        finally:
            connections.close_all()

    worker = threading.Thread(target=work)
    worker.start()
    wait_for(lambda: bool(receiver.received))

    command.stopping.set()
    worker.join(timeout=SIGNAL_WAIT)

    assert not worker.is_alive()
    assert receiver.types() == ["identity.created"]
