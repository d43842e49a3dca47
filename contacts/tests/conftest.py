import io
import itertools
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from contacts.authentication import verified_keys
from contacts.db import backend
from contacts.models import Contact, LinkPrecedence, Scope
from contacts.roles import support_roles_ensure
from contacts.services import relinking
from contacts.services.api_keys import api_key_create
from contacts.tests.webhook_receiver import receiver  # noqa: F401 (a fixture)

IdentifyCall = Callable[..., dict]

_ABSENT = object()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip PostgreSQL-only tests on other databases, unless the run insists on PostgreSQL; skip
    the tests of what a direct connection keeps across transactions behind a pooler in
    transaction mode, where nothing is kept (docs/scaling.md)."""
    if settings.DATABASE_POOL_MODE == "transaction":
        pooled = pytest.mark.skip(
            reason="a direct connection's session: through a pooler in transaction mode "
            "nothing outlives a transaction (test_pooler.py tests what is done instead)"
        )
        for item in items:
            if "direct" in item.keywords:
                item.add_marker(pooled)
    if connection.vendor == "postgresql":
        return
    if os.environ.get("REQUIRE_POSTGRES"):
        raise pytest.UsageError(
            "REQUIRE_POSTGRES is set but DATABASE_URL does not point at PostgreSQL"
        )
    skip = pytest.mark.skip(
        reason="needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/bitespeed "
        "(the suite runs in a test_bitespeed database it creates and drops)"
    )
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _static_files_without_manifest(settings) -> None:
    """Admin pages render in tests without ``collectstatic``, so without WhiteNoise's manifest."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _api_keys_optional(request: pytest.FixtureRequest) -> Iterator[None]:
    """Most tests are about what the API does, not who may call it: they run with keys optional.
    Tests of access (and the acceptance tests of /identify/) ask for ``api_keys_required``."""
    if "api_keys_required" in request.fixturenames:
        yield
        return
    with override_settings(API_KEYS_REQUIRED=False):
        yield


@pytest.fixture
def api_keys_required(db) -> Iterator[Callable[..., str]]:
    """Keys required, as in production; returns a factory of keys (``make_key(scopes=[...])``)."""
    verified_keys.forget()

    def make_key(*, scopes: Iterable[Scope] = (Scope.IDENTIFY,), **fields: object) -> str:
        _, key = api_key_create(name=fields.pop("name", "shop backend"), scopes=scopes, **fields)
        return key

    with override_settings(API_KEYS_REQUIRED=True):
        yield make_key
    verified_keys.forget()


@pytest.fixture(scope="session", autouse=True)
def _pooled_session_settings(django_db_setup, django_db_blocker) -> Iterator[None]:
    """Behind a pooler in transaction mode (``make test-pgbouncer``) the timeouts are the role's
    settings in the test database, as ``manage.py database_settings --apply`` writes them in a
    deployment; the pooler's server connections opened before are then reconnected, and at the
    end closed, so that the test database can be dropped."""
    if settings.DATABASE_POOL_MODE != "transaction":
        yield
        return
    with django_db_blocker.unblock():
        backend().role_settings_apply()
        pooler_admin("RECONNECT")
        connection.close()
    yield
    pooler_admin(f"KILL {connection.settings_dict['NAME']}")


def pooler_admin(command: str) -> None:
    """A command of PgBouncer's admin console, on the pooler of the test database."""
    pooler = connection.settings_dict
    with psycopg.connect(
        host=pooler["HOST"],
        port=pooler["PORT"],
        user=pooler["USER"],
        dbname="pgbouncer",
        autocommit=True,
        prepare_threshold=None,
    ) as admin:
        admin.execute(command)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def identify_body(*, email: object = _ABSENT, phone: object = _ABSENT) -> dict:
    body = {}
    if email is not _ABSENT:
        body["email"] = email
    if phone is not _ABSENT:
        body["phoneNumber"] = phone
    return body


@pytest.fixture
def identify(api_client: APIClient) -> IdentifyCall:
    """POST /identify/ with the given keys (left out when not passed); returns the ``contact``."""

    def call(*, email: object = _ABSENT, phone: object = _ABSENT) -> dict:
        response = api_client.post(
            "/identify/", identify_body(email=email, phone=phone), format="json"
        )
        assert response.status_code == 200, response.content
        return response.json()["contact"]

    return call


@pytest.fixture
def make_contact() -> Callable[..., Contact]:
    """Create contacts directly, one second apart, for states the API alone does not produce."""
    clock = itertools.count()
    start = datetime(2024, 1, 1, tzinfo=UTC)

    def create(
        *,
        email: str | None = None,
        phone: str | None = None,
        linked: Contact | None = None,
        created_at: datetime | None = None,
        deleted: bool = False,
    ) -> Contact:
        return Contact.objects.create(
            email=email,
            phone_number=phone,
            linked=linked,
            link_precedence=LinkPrecedence.SECONDARY if linked else LinkPrecedence.PRIMARY,
            created_at=created_at or start + timedelta(seconds=next(clock)),
            deleted_at=start if deleted else None,
        )

    return create


@pytest.fixture(scope="session")
def collected_static(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Run ``collectstatic`` once, as the build step does, so pages that link assets render."""
    with override_settings(STATIC_ROOT=tmp_path_factory.mktemp("staticfiles")):
        call_command("collectstatic", interactive=False, verbosity=0)
        yield


@pytest.fixture
def log_output(monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[dict]]:
    """The JSON objects the service's log handler writes from now on, one per line."""
    [handler] = [handler for handler in logging.getLogger().handlers if handler.name == "console"]
    stream = io.StringIO()
    monkeypatch.setattr(handler, "stream", stream)
    return lambda: [json.loads(line) for line in stream.getvalue().splitlines()]


DjangoProcess = Callable[..., subprocess.CompletedProcess]


@pytest.fixture
def django_process() -> DjangoProcess:
    """Run ``python <args>`` in the project with environment variables set (or, if None, unset).

    Settings are read once per process, so what depends on the environment at start-up is
    tested in a process of its own.
    """

    def run(*args: str, env: dict[str, str | None]) -> subprocess.CompletedProcess:
        environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "bitespeed.settings", **env}
        return subprocess.run(
            [sys.executable, *args],
            cwd=settings.BASE_DIR,
            env={name: value for name, value in environment.items() if value is not None},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return run


@pytest.fixture
def staff_client(db, django_user_model) -> Callable[[str], Client]:
    """A test client logged in as a new staff user in one of the support roles."""

    def login(role: str) -> Client:
        support_roles_ensure()
        user = django_user_model.objects.create_user(
            username=f"staff-{role}", password="x", is_staff=True
        )
        user.groups.add(Group.objects.get(name=role))
        client = Client()
        client.force_login(user)
        return client

    return login


@pytest.fixture
def bridged_customers(make_contact) -> tuple[Contact, Contact, Contact]:
    """Two customers joined by a contact with one's email and the other's phone, as the API links
    them: lorraine, then the bridge (lorraine's email, a new phone), then george with that phone."""
    lorraine = make_contact(email="lorraine@example.com", phone="111")
    bridge = make_contact(email="lorraine@example.com", phone="222", linked=lorraine)
    george = make_contact(email="george@example.com", phone="222", linked=lorraine)
    return lorraine, bridge, george


@pytest.fixture(autouse=True)
def _no_rate_limit(monkeypatch) -> None:
    """No rate limit unless a test sets one (``identify_rate``): the suite sends thousands of
    requests a minute from one address, over the default limit."""
    monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "identify", None)


@pytest.fixture
def identify_rate(monkeypatch, settings):
    """Set the /identify/ rate; DRF copies its rates into the throttle class at import. The test
    process is one worker, so it allows the whole rate (``contacts.throttling``)."""
    settings.WEB_CONCURRENCY = 1
    cache.clear()

    def set_rate(rate: str | None) -> None:
        monkeypatch.setitem(ScopedRateThrottle.THROTTLE_RATES, "identify", rate)

    yield set_rate
    cache.clear()


# How long a correction waits between its read under the locks and its writes: long enough that,
# without the locks, requests racing it would change the clusters in between.
READ_TO_WRITE_SECONDS = 0.03


@pytest.fixture
def slow_corrections(monkeypatch: pytest.MonkeyPatch) -> None:
    """Widen every correction's window between its read under the locks and its writes."""
    apply = relinking._apply_correction

    def apply_later(**kwargs: object) -> relinking.ReconcileResult:
        time.sleep(READ_TO_WRITE_SECONDS)
        return apply(**kwargs)

    monkeypatch.setattr(relinking, "_apply_correction", apply_later)
