"""A real streaming replica (make test-replica, .ci/replica.py): what reads from it, what never
does, and the fallback to the primary when it lags past ``REPLICA_MAX_LAG``, stops, or drops a
connection (docs/scaling.md).

A paused replay makes the standby's copy visibly old: a page that shows the old copy read the
replica, one that shows the last write read the primary.
"""

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import requests
from django.conf import settings

from contacts.tests.live_gunicorn import Server, start_gunicorn, stop_gunicorn

pytestmark = pytest.mark.replica

MAX_LAG = 3
DATABASE = "bitespeed_replica"
PASSWORD = "replica-test-password"


@dataclass(frozen=True)
class Streaming:
    primary: str
    standby: str
    standby_ctl: str

    def wait_until_replayed(self, *, seconds: float = 20) -> None:
        """Until the standby has replayed everything the primary has written so far."""
        with psycopg.connect(self.primary, autocommit=True) as primary:
            (position,) = primary.execute("SELECT pg_current_wal_lsn()").fetchone()
        eventually(
            lambda: standby_value(
                self.standby, "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [position]
            ),
            seconds=seconds,
        )

    def pause_replay(self) -> None:
        with psycopg.connect(self.standby, autocommit=True) as standby:
            standby.execute("SELECT pg_wal_replay_pause()")
        eventually(
            lambda: (
                standby_value(self.standby, "SELECT pg_get_wal_replay_pause_state()") == "paused"
            )
        )

    def resume_replay(self) -> None:
        with psycopg.connect(self.standby, autocommit=True) as standby:
            standby.execute("SELECT pg_wal_replay_resume()")
        self.wait_until_replayed()

    def standby_stop(self) -> None:
        subprocess.run([self.standby_ctl, "stop", "-m", "fast"], check=True, capture_output=True)

    def standby_start(self) -> None:
        subprocess.run([self.standby_ctl, "start"], check=True, capture_output=True)


def eventually(condition: Callable[[], object], *, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {seconds} s")
        time.sleep(0.1)


def standby_value(url: str, query: str, parameters: list | None = None) -> object:
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=2) as standby:
            return standby.execute(query, parameters).fetchone()[0]
    except psycopg.OperationalError:
        return None


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def manage(*arguments: str, environment: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=settings.BASE_DIR,
        env={**os.environ, "SECRET_KEY": "replica-tests", **environment},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def streaming() -> Streaming:
    """The throwaway primary and standby, with a migrated database and a support user."""
    if "STREAMING_PRIMARY_URL" not in os.environ:
        pytest.skip("needs a streaming replica: run `make test-replica` (.ci/replica.py)")
    with psycopg.connect(os.environ["STREAMING_PRIMARY_URL"], autocommit=True) as server:
        server.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        server.execute(f"CREATE DATABASE {DATABASE}")
    pair = Streaming(
        primary=with_database(os.environ["STREAMING_PRIMARY_URL"], DATABASE),
        standby=with_database(os.environ["STREAMING_STANDBY_URL"], DATABASE),
        standby_ctl=os.environ["STREAMING_STANDBY_CTL"],
    )
    primary_only = {"DATABASE_URL": pair.primary}
    assert manage("migrate", "--noinput", environment=primary_only).returncode == 0
    created = manage(
        *("createsuperuser", "--noinput", "--username", "support", "--email", "s@example.com"),
        environment={**primary_only, "DJANGO_SUPERUSER_PASSWORD": PASSWORD},
    )
    assert created.returncode == 0, created.stderr
    pair.wait_until_replayed()
    return pair


@pytest.fixture(scope="module")
def server(streaming: Streaming) -> Iterator[Server]:
    """One worker, so that what it last saw of the replica is what the next request sees."""
    started = start_gunicorn(
        database=streaming.primary,
        workers=1,
        worker_timeout=30,
        application_name="replica-tests",
        environment={"DATABASE_REPLICA_URL": streaming.standby, "REPLICA_MAX_LAG": str(MAX_LAG)},
    )
    yield started
    stop_gunicorn(started.process)


@pytest.fixture
def pause_replay(streaming: Streaming, server: Server) -> Iterator[Callable[[], None]]:
    """Called, the standby replays everything written so far, then stops replaying: its copy
    stays as it is while its lag grows from about 0. Replay resumes at the end of the test."""
    paused = []

    def pause() -> None:
        streaming.wait_until_replayed()
        wait_for_replica_state(server, "ok")
        streaming.pause_replay()
        paused.append(True)

    yield pause
    if paused:
        streaming.resume_replay()


def url(server: Server, path: str) -> str:
    return f"http://{server.url_host}:{server.port}{path}"


def identify(server: Server, *, email: str | None, phone_number: str | None) -> dict:
    response = requests.post(
        url(server, "/identify/"), json={"email": email, "phoneNumber": phone_number}, timeout=15
    )
    assert response.status_code == 200, response.text
    return response.json()["contact"]


def identity_emails(server: Server, contact_id: int) -> list[str]:
    """The emails of the identity as ``GET /identities/{id}/`` shows it."""
    response = requests.get(url(server, f"/identities/{contact_id}/"), timeout=15)
    assert response.status_code == 200, response.text
    return response.json()["contact"]["emails"]


def lookup_emails(server: Server, *, phone_number: str) -> list[str]:
    response = requests.post(
        url(server, "/identities/lookup/"), json={"phoneNumber": phone_number}, timeout=15
    )
    assert response.status_code == 200, response.text
    return response.json()["contact"]["emails"]


def readiness(server: Server) -> requests.Response:
    return requests.get(url(server, "/health/ready/"), timeout=15)


def wait_for_replica_state(server: Server, state: str, *, seconds: float = 20) -> None:
    eventually(lambda: readiness(server).json()["checks"].get("replica") == state, seconds=seconds)


class TestRouting:
    def test_an_identity_page_reads_the_replica_and_the_lookup_the_primary(
        self, server, pause_replay
    ):
        first = identify(server, email="routing@example.com", phone_number="+1 555 0100")
        pause_replay()
        identify(server, email="routing-2@example.com", phone_number="+1 555 0100")

        assert identity_emails(server, first["primaryContactId"]) == ["routing@example.com"]
        assert lookup_emails(server, phone_number="+1 555 0100") == [
            "routing@example.com",
            "routing-2@example.com",
        ]

    def test_an_identify_answers_from_the_primary_right_after_a_write(self, server, pause_replay):
        identify(server, email="fresh@example.com", phone_number="+1 555 0101")
        pause_replay()

        answer = identify(server, email="fresh-2@example.com", phone_number="+1 555 0101")

        assert answer["emails"] == ["fresh@example.com", "fresh-2@example.com"]


class TestFallback:
    def test_past_the_lag_limit_reads_go_to_the_primary(self, server, pause_replay):
        first = identify(server, email="lagging@example.com", phone_number="+1 555 0102")
        pause_replay()
        identify(server, email="lagging-2@example.com", phone_number="+1 555 0102")
        assert identity_emails(server, first["primaryContactId"]) == ["lagging@example.com"]

        wait_for_replica_state(server, "lagging", seconds=MAX_LAG + 10)

        assert readiness(server).status_code == 200
        assert identity_emails(server, first["primaryContactId"]) == [
            "lagging@example.com",
            "lagging-2@example.com",
        ]

    def test_a_stopped_standby_leaves_the_service_ready_and_reading_the_primary(
        self, server, streaming
    ):
        first = identify(server, email="stopped@example.com", phone_number="+1 555 0103")
        wait_for_replica_state(server, "ok")
        streaming.standby_stop()
        try:
            identify(server, email="stopped-2@example.com", phone_number="+1 555 0103")
            emails = identity_emails(server, first["primaryContactId"])
            ready = readiness(server)
        finally:
            streaming.standby_start()

        assert emails == ["stopped@example.com", "stopped-2@example.com"]
        assert ready.status_code == 200
        assert ready.json()["checks"]["replica"] == "unreachable"
        wait_for_replica_state(server, "ok")

    def test_a_replica_connection_dropped_mid_request_is_read_again_from_the_primary(
        self, server, streaming
    ):
        first = identify(server, email="dropped@example.com", phone_number=None)
        streaming.wait_until_replayed()
        wait_for_replica_state(server, "ok")
        assert identity_emails(server, first["primaryContactId"]) == ["dropped@example.com"]
        with psycopg.connect(streaming.standby, autocommit=True) as standby:
            (ended,) = standby.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'replica-tests'"
            ).fetchone()

        assert ended >= 1
        assert identity_emails(server, first["primaryContactId"]) == ["dropped@example.com"]
        assert readiness(server).json()["checks"]["replica"] == "ok"


class TestAdmin:
    @pytest.fixture
    def support(self, server: Server) -> requests.Session:
        """The support user, logged in: logging in changes the user's row, so it pins."""
        session = requests.Session()
        session.get(url(server, "/admin/login/"), timeout=15)
        response = session.post(
            url(server, "/admin/login/"),
            data={
                "username": "support",
                "password": PASSWORD,
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
                "next": "/admin/",
            },
            headers={"Referer": url(server, "/admin/login/")},
            timeout=15,
        )
        assert response.url.endswith("/admin/"), "the support user could not log in"
        return session

    def test_the_contacts_list_reads_the_replica_unless_its_reader_just_made_a_change(
        self, server, support, pause_replay
    ):
        assert "read_from_primary" in support.cookies
        pause_replay()
        identify(server, email="listed@example.com", phone_number=None)
        search = url(server, "/admin/contacts/contact/?q=listed@example.com")

        pinned = support.get(search, timeout=15)
        support.cookies.pop("read_from_primary")
        unpinned = support.get(search, timeout=15)

        assert (pinned.status_code, unpinned.status_code) == (200, 200)
        assert "1 result (" in pinned.text
        assert "0 results (" in unpinned.text


class TestReconcileCheck:
    def test_the_check_scans_the_replica(self, server, streaming, pause_replay):
        identify(server, email="check@example.com", phone_number="+1 555 0104")
        answer = identify(server, email="check-2@example.com", phone_number="+1 555 0104")
        (secondary_id,) = answer["secondaryContactIds"]
        pause_replay()
        with psycopg.connect(streaming.primary, autocommit=True) as primary:
            primary.execute(
                "UPDATE contacts_contact SET linked_id = NULL, link_precedence = 'primary' "
                "WHERE id = %s",
                [secondary_id],
            )
        primary_only = {"DATABASE_URL": streaming.primary}
        with_replica = {
            **primary_only,
            "DATABASE_REPLICA_URL": streaming.standby,
            "REPLICA_MAX_LAG": "60",
        }

        from_replica = manage("reconcile", "--check", "--no-progress", environment=with_replica)
        from_primary = manage("reconcile", "--check", "--no-progress", environment=primary_only)

        assert from_replica.returncode == 0, from_replica.stdout
        assert from_primary.returncode == 1
        assert f"#{secondary_id}" in from_primary.stdout
        repaired = manage("reconcile", "--no-progress", environment=primary_only)
        assert repaired.returncode == 0, repaired.stderr
