"""The timeouts every request relies on, whether the connection comes straight from PostgreSQL
(startup options) or through PgBouncer in transaction mode (the role's settings, written by
``manage.py database_settings --apply``): ``make test-pgbouncer`` runs this file through a real
PgBouncer (docs/scaling.md)."""

import io
import time

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.db import backend
from contacts.db.postgresql_statements import STATEMENT_FUNCTIONS
from contacts.models import Contact
from contacts.tests.traffic import transaction_held_open

pytestmark = pytest.mark.postgres


@pytest.mark.django_db
def test_every_request_setting_is_in_effect():
    assert backend().session_settings_missing() == {}


@pytest.mark.django_db
def test_database_settings_reports_each_setting():
    output = io.StringIO()

    call_command("database_settings", stdout=output)

    assert output.getvalue().splitlines() == [
        f"{name}: ok" for name in settings.DATABASE_SESSION_SETTINGS
    ]


@pytest.mark.django_db
def test_a_missing_setting_makes_the_service_unready(client):
    """Set for the test's transaction only: a session setting would stay on the pooler's server
    connection for its next clients."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('lock_timeout', '0', true)")

    response = client.get("/health/ready/")

    assert response.status_code == 503
    assert response.json()["checks"]["settings"] == "missing"
    assert "lock_timeout is 0, not 3000" in response.json()["detail"]


@pytest.mark.django_db
def test_operator_settings_never_outlive_their_command():
    with backend().operator_session(), connection.cursor() as cursor:
        cursor.execute("SELECT 1")

    assert backend().session_settings_missing() == {}


@pytest.mark.django_db(transaction=True)
def test_a_held_lock_is_answered_503_within_the_lock_timeout(identify, api_client):
    primary = identify(email="held@example.com", phone="100")["primaryContactId"]
    with transaction_held_open(
        lambda: list(Contact.objects.select_for_update().filter(id=primary))
    ):
        started = time.monotonic()
        response = api_client.post(
            "/identify/", {"email": "held@example.com", "phoneNumber": "200"}, format="json"
        )
        waited = time.monotonic() - started

    lock_timeout = settings.DATABASE_SESSION_SETTINGS["lock_timeout"] / 1000
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"
    assert lock_timeout * 0.9 <= waited < lock_timeout + 2


@pytest.mark.django_db
def test_through_a_pooler_identify_calls_the_hot_statements_functions(settings, identify):
    settings.DATABASE_POOL_MODE = "transaction"

    with CaptureQueriesContext(connection) as queries:
        identify(email="pooled@example.com", phone="5550100")

    names = [function.name for function in STATEMENT_FUNCTIONS]
    called = [name for name in names if any(name in query["sql"] for query in queries)]
    assert called == names


@pytest.mark.django_db
def test_a_missing_statement_function_makes_the_pooled_service_unready(settings, client):
    """Dropped in the test's transaction only, which rolls back."""
    settings.DATABASE_POOL_MODE = "transaction"
    function = STATEMENT_FUNCTIONS[0]
    with connection.cursor() as cursor:
        cursor.execute(f"DROP FUNCTION {function.name}")

    response = client.get("/health/ready/")

    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == "pending"
    assert response.json()["detail"] == f"{function.name} missing: run `python manage.py migrate`."
