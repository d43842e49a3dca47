"""GET /health/ and /health/ready/: JSON, 200 or 503, answered whatever the Host header."""

import json

import pytest

pytestmark = pytest.mark.pooler

# Probes call the service by an address or a name of their own, which ALLOWED_HOSTS does not list.
PROBE_HOST = "10.0.0.7:8080"

UNREACHABLE_DATABASES = {
    "sqlite": "sqlite:////nonexistent-directory/db.sqlite3",
    "postgresql": "postgres://postgres@127.0.0.1:1/unreachable",
}

# Both endpoints, from a process of its own with the given DATABASE_URL, through the middleware.
PROBE = """
import json
import django
django.setup()
from django.test import Client
client = Client()
answers = {}
for path in ("/health/", "/health/ready/"):
    response = client.get(path, HTTP_HOST="probe.internal")
    answers[path] = {
        "status": response.status_code,
        "type": response["Content-Type"],
        "body": response.json(),
    }
print(json.dumps(answers))
"""


@pytest.fixture
def probe(django_process):
    def run(*, database_url: str) -> dict:
        result = django_process("-c", PROBE, env={"DATABASE_URL": database_url})
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    return run


def test_liveness_answers_any_host_without_the_database(client):
    response = client.get("/health/", HTTP_HOST=PROBE_HOST)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readiness_reports_the_database_and_migrations(client):
    response = client.get("/health/ready/", HTTP_HOST="healthcheck.railway.app")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "migrations": "ok", "settings": "ok"},
    }


def test_other_paths_still_reject_unknown_hosts(client):
    response = client.post(
        "/identify/",
        {"email": "a@example.com"},
        content_type="application/json",
        HTTP_HOST=PROBE_HOST,
    )

    assert response.status_code == 400
    assert response.json()["code"] == "disallowed_host"


def test_health_is_not_redirected_to_https(client, settings):
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/health/").status_code == 200
    redirected = client.get("/docs/")
    assert redirected.status_code == 301
    assert redirected["Location"].startswith("https://")


@pytest.mark.parametrize("database_url", UNREACHABLE_DATABASES.values(), ids=UNREACHABLE_DATABASES)
def test_readiness_is_503_json_when_the_database_is_unreachable(probe, database_url):
    answers = probe(database_url=database_url)

    assert answers["/health/ready/"] == {
        "status": 503,
        "type": "application/json",
        "body": {
            "status": "unavailable",
            "checks": {"database": "unreachable"},
            "detail": "The database is unreachable.",
            "code": "unavailable",
        },
    }
    assert answers["/health/"]["status"] == 200


def test_readiness_is_503_until_migrations_are_applied(probe, django_process, tmp_path):
    database_url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"

    before = probe(database_url=database_url)["/health/ready/"]
    migrate = django_process(
        "manage.py", "migrate", "--noinput", env={"DATABASE_URL": database_url}
    )
    after = probe(database_url=database_url)["/health/ready/"]

    assert before["status"] == 503
    assert before["body"]["checks"] == {"database": "ok", "migrations": "pending", "settings": "ok"}
    assert "python manage.py migrate" in before["body"]["detail"]
    assert migrate.returncode == 0, migrate.stderr
    assert after["status"] == 200
