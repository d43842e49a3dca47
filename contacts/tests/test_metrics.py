"""``GET /metrics`` (docs/operations.md, "Metrics"): who may scrape it, what requests, merges and
503s add, what is read at scrape time, that no personal data leaves in it, and that under
gunicorn a scrape adds up every worker's counts."""

import time
from collections.abc import Iterator
from datetime import timedelta
from http.client import HTTPConnection
from pathlib import Path

import pytest
from django.db import DatabaseError, OperationalError, connection
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from contacts import metrics
from contacts.db import routing
from contacts.models import ClusterEvent, HeldMerge, Scope
from contacts.services.events import events_sequence
from contacts.services.webhooks import webhook_endpoint_create
from contacts.tests.live_gunicorn import (
    Server,
    database_url,
    migrated_sqlite,
    post,
    start_gunicorn,
    stop_gunicorn,
)
from contacts.views import identities

pytestmark = pytest.mark.django_db

Samples = dict[tuple[str, frozenset], float]

LORRAINE = {"email": "lorraine@hillvalley.edu", "phoneNumber": "5550101"}
GEORGE = {"email": "george@hillvalley.edu", "phoneNumber": "5550202"}
# Lorraine's email with George's phone number: one order bridging the two identities.
BRIDGE = {"email": "lorraine@hillvalley.edu", "phoneNumber": "5550202"}


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client: APIClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200, response.content
    return parse(response.content.decode())


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def identify(client: APIClient, body: dict) -> int:
    return client.post("/identify/", body, format="json").status_code


def requests_counted(samples: Samples, *, endpoint: str, outcome: str) -> float:
    return value(
        samples, "bitespeed_request_duration_seconds_count", endpoint=endpoint, outcome=outcome
    )


class TestAccess:
    def test_without_a_key_it_is_the_api_s_json_401(self, api_client, api_keys_required):
        response = api_client.get("/metrics")

        assert response.status_code == 401
        assert response["Content-Type"] == "application/json"
        assert response.json()["code"] == "api_key_required"

    @pytest.mark.parametrize("scope", [Scope.IDENTIFY, Scope.LOOKUP, Scope.EVENTS, Scope.PRIVACY])
    def test_a_key_of_another_scope_is_403(self, api_client, api_keys_required, scope):
        api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_keys_required(scopes=[scope])}")

        response = api_client.get("/metrics")

        assert response.status_code == 403
        assert response.json()["code"] == "scope_missing"

    def test_a_metrics_key_gets_prometheus_text_and_nothing_else(
        self, api_client, api_keys_required
    ):
        key = api_keys_required(scopes=[Scope.METRICS])
        api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")

        response = api_client.get("/metrics")

        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain; version=0.0.4")
        assert "bitespeed_database_up 1.0" in response.content.decode()
        assert identify(api_client, LORRAINE) == 403


class TestRequests:
    def test_an_identify_that_merges_two_identities_counts_one_merge(self, api_client):
        identify(api_client, LORRAINE)
        identify(api_client, GEORGE)
        before = scrape(api_client)

        assert identify(api_client, BRIDGE) == 200

        after = scrape(api_client)
        merges = "bitespeed_identity_merges_total"
        assert value(after, merges, source="api") - value(before, merges, source="api") == 1
        assert (
            requests_counted(after, endpoint="identify", outcome="merge")
            - requests_counted(before, endpoint="identify", outcome="merge")
            == 1
        )

    def test_a_held_merge_is_counted_and_waits_in_the_pending_gauge(self, api_client, settings):
        settings.IDENTITY_MAX_CLUSTER_SIZE = 3
        for number in range(2):
            identify(api_client, {"email": f"a{number}@example.com", "phoneNumber": "1001"})
            identify(api_client, {"email": f"b{number}@example.com", "phoneNumber": "2002"})
        before = scrape(api_client)

        assert identify(api_client, {"email": "b0@example.com", "phoneNumber": "1001"}) == 200

        after = scrape(api_client)
        held = "bitespeed_held_merges_total"
        assert HeldMerge.objects.count() == 1
        assert value(after, held) - value(before, held) == 1
        assert value(after, "bitespeed_held_merges_pending") == 1
        assert value(after, "bitespeed_identity_merges_total", source="api") == value(
            before, "bitespeed_identity_merges_total", source="api"
        )

    def test_a_503_is_counted_by_its_reason(self, api_client, monkeypatch):
        class LockNotAvailable(Exception):
            sqlstate = "55P03"

        def time_out(**kwargs: object) -> None:
            raise OperationalError("canceling statement due to lock timeout") from (
                LockNotAvailable()
            )

        before = scrape(api_client)
        monkeypatch.setattr(identities, "contact_identify", time_out)

        assert identify(api_client, LORRAINE) == 503

        after = scrape(api_client)
        unavailable = "bitespeed_unavailable_responses_total"
        assert (
            value(after, unavailable, reason="lock_timeout")
            - value(before, unavailable, reason="lock_timeout")
            == 1
        )
        assert (
            requests_counted(after, endpoint="identify", outcome="unavailable")
            - requests_counted(before, endpoint="identify", outcome="unavailable")
            == 1
        )

    def test_endpoints_are_named_by_their_url_never_by_path(self, api_client):
        contact = api_client.post("/identify/", LORRAINE, format="json").json()["contact"]
        before = scrape(api_client)

        api_client.get(f"/identities/{contact['primaryContactId']}/")
        api_client.get("/no/such/path/")
        api_client.get("/health/")

        after = scrape(api_client)
        for endpoint, outcome in [
            ("identity-detail", "ok"),
            ("unmatched", "not_found"),
            ("health", "ok"),
        ]:
            assert (
                requests_counted(after, endpoint=endpoint, outcome=outcome)
                - requests_counted(before, endpoint=endpoint, outcome=outcome)
                == 1
            ), endpoint

    def test_the_scrape_sees_itself_busy_and_this_thread_s_connection(self, api_client):
        identify(api_client, LORRAINE)

        samples = scrape(api_client)

        assert value(samples, "bitespeed_threads_busy") == 1
        assert value(samples, "bitespeed_database_connections_open", database="default") == 1


class TestNoPersonalData:
    def test_no_email_phone_number_or_id_appears_in_the_metrics(self, api_client):
        bodies = [LORRAINE, GEORGE, BRIDGE, {"email": "not-an-email", "phoneNumber": "5550303"}]
        for body in bodies:
            identify(api_client, body)
        api_client.post("/identities/lookup/", GEORGE, format="json")
        api_client.get("/identities/424242/")

        text = api_client.get("/metrics").content.decode()

        for body in bodies:
            assert body["email"] not in text
            assert body["phoneNumber"] not in text
        assert "424242" not in text
        assert "@" not in text


class TestScrapeTime:
    def test_the_event_lag_is_the_age_of_the_oldest_unsequenced_change(self, api_client):
        identify(api_client, LORRAINE)
        ClusterEvent.objects.update(created_at=timezone.now() - timedelta(minutes=10))

        waiting = scrape(api_client)
        events_sequence()
        sequenced = scrape(api_client)

        lag = "bitespeed_events_unsequenced_age_seconds"
        assert 600 <= value(waiting, lag) < 700
        assert value(sequenced, lag) == 0

    def test_pending_webhook_deliveries_and_their_lag(self, api_client):
        webhook_endpoint_create(url="https://crm.example.com/hooks", event_types=[])
        identify(api_client, LORRAINE)
        ClusterEvent.objects.update(created_at=timezone.now() - timedelta(minutes=5))
        events_sequence()

        samples = scrape(api_client)

        assert value(samples, "bitespeed_webhook_deliveries_pending") == 1
        assert 300 <= value(samples, "bitespeed_webhook_delivery_lag_seconds") < 400

    def test_an_unreadable_database_leaves_out_the_backlog_not_the_counts(
        self, api_client, monkeypatch
    ):
        identify(api_client, LORRAINE)

        def fail() -> None:
            raise DatabaseError("server closed the connection unexpectedly")

        monkeypatch.setattr(metrics, "operations_backlog", fail)

        samples = scrape(api_client)

        assert value(samples, "bitespeed_database_up") == 0
        assert ("bitespeed_held_merges_pending", frozenset()) not in samples
        assert requests_counted(samples, endpoint="identify", outcome="new_primary") >= 1

    def test_the_replica_s_state_and_lag_as_the_routing_last_saw_them(
        self, api_client, monkeypatch
    ):
        lagging = routing.ReplicaStatus(state="lagging", lag=12.5)
        monkeypatch.setattr(metrics, "replica_status", lambda: lagging)

        samples = scrape(api_client)

        assert value(samples, "bitespeed_replica_lag_seconds") == 12.5
        assert ("bitespeed_replica_up", frozenset()) in samples
        assert value(samples, "bitespeed_replica_up") == 0

    def test_without_a_replica_there_is_no_replica_metric(self, api_client, monkeypatch):
        monkeypatch.setattr(metrics, "replica_status", lambda: None)

        text = api_client.get("/metrics").content.decode()

        assert "bitespeed_replica" not in text


# --- Under gunicorn ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def live_database(django_db_setup, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The test database on PostgreSQL; on SQLite, a migrated file the server can share."""
    if connection.vendor == "postgresql":
        return database_url()
    return migrated_sqlite(tmp_path_factory.mktemp("metrics"))


@pytest.fixture
def two_workers(live_database: str, transactional_db, tmp_path: Path) -> Iterator[Server]:
    """gunicorn with two workers of two threads, its temporary files in ``tmp_path``."""
    server = start_gunicorn(
        database=live_database,
        workers=2,
        worker_timeout=30,
        application_name="bitespeed-metrics",
        environment={"GUNICORN_THREADS": "2", "TMPDIR": str(tmp_path)},
    )
    yield server
    stop_gunicorn(server.process)


def live_scrape(server: Server) -> Samples:
    client = HTTPConnection(server.url_host, server.port, timeout=15)
    try:
        client.request("GET", "/metrics")
        response = client.getresponse()
        assert response.status == 200
        return parse(response.read().decode())
    finally:
        client.close()


def both_workers_ready(server: Server) -> Samples:
    """A scrape once both workers have loaded the application: gunicorn answers as soon as one
    has, and each adds its threads to ``bitespeed_threads`` once it has."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        samples = live_scrape(server)
        if value(samples, "bitespeed_threads") == 4:
            return samples
        time.sleep(0.2)
    pytest.fail("the second worker did not start")


def test_under_gunicorn_every_scrape_adds_up_both_workers(two_workers: Server, tmp_path: Path):
    [directory] = tmp_path.glob("bitespeed-metrics-*")
    before = both_workers_ready(two_workers)

    for number in range(20):
        status, body = post(
            two_workers, {"email": f"doc{number}@example.com", "phoneNumber": "5550404"}
        )
        assert status == 200, body
    scrapes = [live_scrape(two_workers) for _ in range(6)]

    pids = {path.stem.rsplit("_", 1)[1] for path in directory.glob("*.db")}
    assert set(map(str, two_workers.worker_pids())) <= pids
    for samples in scrapes:
        assert value(samples, "bitespeed_threads") == 4
        counted = sum(
            requests_counted(samples, endpoint="identify", outcome=outcome)
            - requests_counted(before, endpoint="identify", outcome=outcome)
            for outcome in ("new_primary", "new_secondary")
        )
        assert counted == 20
    stop_gunicorn(two_workers.process)
    assert not directory.exists()
