"""Operator commands run with their own statement timeout and plan choice; requests keep theirs.

A request's 10 s statement timeout cancelled the million-row import's ``COPY``, and its generic
plans searched a reconciliation batch's list of thousands of values row by row
(``DatabaseBackend.operator_session``).
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import OperationalError, connection, connections

from contacts.db import backend
from contacts.services.identify import contact_identify

pytestmark = [pytest.mark.postgres, pytest.mark.direct, pytest.mark.django_db]

OPERATOR_TIMEOUT_MS = 7_654_321
SETTINGS = ("statement_timeout", "idle_in_transaction_session_timeout", "plan_cache_mode")
SettingsSeen = Callable[[], Iterator[list[dict[str, str]]]]


@pytest.fixture(autouse=True)
def _operator_timeout(settings) -> None:
    settings.OPERATOR_STATEMENT_TIMEOUT_MS = OPERATOR_TIMEOUT_MS


@pytest.fixture
def settings_seen() -> SettingsSeen:
    """Within the block, the session settings in force when each statement was sent."""

    @contextmanager
    def record() -> Iterator[list[dict[str, str]]]:
        seen: list[dict[str, str]] = []

        def before_each(execute, sql, params, many, context):
            rows = context["connection"].connection.execute(
                "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", [list(SETTINGS)]
            )
            seen.append(dict(rows.fetchall()))
            return execute(sql, params, many, context)

        with connection.execute_wrapper(before_each):
            yield seen

    return record


OPERATOR = {
    "statement_timeout": str(OPERATOR_TIMEOUT_MS),
    "idle_in_transaction_session_timeout": str(OPERATOR_TIMEOUT_MS),
    "plan_cache_mode": "auto",
}
REQUEST = {
    "statement_timeout": "10000",
    "idle_in_transaction_session_timeout": "30000",
    "plan_cache_mode": "force_generic_plan",
}


def orders_file(directory: Path) -> Path:
    path = directory / "orders.csv"
    path.write_text(
        "email,phoneNumber,createdAt\n"
        "a@example.com,100,2024-01-01T00:00:00Z\n"
        "b@example.com,100,2024-01-02T00:00:00Z\n"
        "b@example.com,200,2024-01-03T00:00:00Z\n"
    )
    return path


def test_import_runs_every_statement_with_the_operator_settings(settings_seen, tmp_path):
    with settings_seen() as seen:
        call_command("import_contacts", str(orders_file(tmp_path)), "--write", stdout=StringIO())

    assert len(seen) > 5
    assert all(statement == OPERATOR for statement in seen[1:]), seen


def test_reconcile_runs_every_statement_with_the_operator_settings(settings_seen, make_contact):
    primary = make_contact(email="a@example.com", phone="100")
    make_contact(email="b@example.com", phone="100", linked=primary)
    make_contact(email="c@example.com", phone="100")

    with settings_seen() as seen:
        call_command("reconcile", "--no-progress", stdout=StringIO())

    assert len(seen) > 5, "the stray primary was not repaired"
    assert all(statement == OPERATOR for statement in seen[1:]), seen


def test_migrate_runs_every_statement_with_the_operator_settings(settings_seen):
    with settings_seen() as seen:
        call_command("migrate", verbosity=0)

    assert len(seen) > 1
    assert all(statement == OPERATOR for statement in seen[1:]), seen


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(lambda path: ["import_contacts", str(path), "--write"], id="import"),
        pytest.param(lambda path: ["reconcile", "--no-progress"], id="reconcile"),
        pytest.param(lambda path: ["migrate", "--verbosity", "0"], id="migrate"),
    ],
)
def test_a_request_after_a_command_runs_with_the_request_bounds(command, settings_seen, tmp_path):
    call_command(*command(orders_file(tmp_path)), stdout=StringIO())

    with settings_seen() as seen:
        contact_identify(email="new@example.com", phone_number="300")

    assert seen
    assert all(statement == REQUEST for statement in seen), seen


@pytest.fixture
def bounded_connection() -> Iterator[str]:
    """A second connection to the test database whose request bound is 200 ms."""
    default = connections["default"]
    options = {**default.settings_dict["OPTIONS"], "options": "-c statement_timeout=200"}
    bounded = type(default)({**default.settings_dict, "OPTIONS": options}, alias="bounded")
    connections["bounded"] = bounded
    yield "bounded"
    bounded.close()
    del connections["bounded"]


def sleep(alias: str) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_sleep(0.4)")


def test_the_operator_session_lifts_the_request_bound_and_restores_it(bounded_connection):
    with pytest.raises(OperationalError, match="statement timeout"):
        sleep(bounded_connection)

    with backend(using=bounded_connection).operator_session():
        sleep(bounded_connection)

    with pytest.raises(OperationalError, match="statement timeout"):
        sleep(bounded_connection)


def test_a_connection_opened_during_the_operator_session_gets_the_operator_bounds(
    bounded_connection,
):
    with backend(using=bounded_connection).operator_session():
        connections[bounded_connection].close()
        sleep(bounded_connection)
