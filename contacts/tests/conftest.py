import itertools
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
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
