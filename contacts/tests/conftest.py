import io
import itertools
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from rest_framework.test import APIClient

from contacts.models import Contact, LinkPrecedence

IdentifyCall = Callable[..., dict]

_ABSENT = object()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip PostgreSQL-only tests on other databases, unless the run insists on PostgreSQL."""
    if connection.vendor == "postgresql":
        return
    if os.environ.get("REQUIRE_POSTGRES"):
        raise pytest.UsageError(
            "REQUIRE_POSTGRES is set but DATABASE_URL does not point at PostgreSQL"
        )
    skip = pytest.mark.skip(
        reason="needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres"
    )
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


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
