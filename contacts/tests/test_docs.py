"""/api/schema/, /docs/, /redoc/: the schema documents the API, the pages load nothing external."""

import re

import pytest
from django.db import OperationalError

from contacts.locking import LocksChanged
from contacts.models import Scope
from contacts.throttling import PerClientRateThrottle

LOCAL_URL = re.compile(r"^/(?!/)")


def test_the_schema_documents_identify_with_the_worked_examples(client):
    response = client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    operation = response.json()["paths"]["/identify/"]["post"]
    assert set(operation["responses"]) == {
        "200",
        "400",
        "401",
        "403",
        "413",
        "415",
        "422",
        "429",
        "503",
    }
    assert operation["responses"]["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    requests = operation["requestBody"]["content"]["application/json"]["examples"]
    assert {"email": "george@hillvalley.edu", "phoneNumber": 717171} in [
        example["value"] for example in requests.values()
    ]
    answers = operation["responses"]["200"]["content"]["application/json"]["examples"]
    assert answers["George"]["value"] == {
        "contact": {
            "primaryContatctId": 11,
            "primaryContactId": 11,
            "emails": ["george@hillvalley.edu", "biffsucks@hillvalley.edu"],
            "phoneNumbers": ["919191", "717171"],
            "secondaryContactIds": [27],
        }
    }


def test_the_schema_is_yaml_by_default(client):
    response = client.get("/api/schema/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert response.content.startswith(b"openapi: 3.")


@pytest.mark.usefixtures("collected_static")
@pytest.mark.parametrize("path", ["/docs/", "/redoc/"])
def test_docs_pages_load_only_assets_this_service_serves(client, path):
    response = client.get(path)

    assert response.status_code == 200
    html = response.content.decode()
    # Swagger UI's init script, served at /docs/?script= for the Content-Security-Policy, names it.
    init = client.get(path, {"script": ""}).content.decode() if path == "/docs/" else html
    assert "/api/schema/" in init
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets
    assert all(LOCAL_URL.match(asset) for asset in assets), assets
    assert "https://" not in html
    assert "http://" not in html
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


def test_swagger_ui_does_not_call_the_online_validator(client):
    assert '"validatorUrl": null' in client.get("/docs/", {"script": ""}).content.decode()


def documented_examples(client, path: str, method: str) -> dict[str, list[dict]]:
    """The schema's error examples of one operation, by status."""
    operation = client.get("/api/schema/", {"format": "json"}).json()["paths"][path][method]
    return {
        status: [
            example["value"]
            for example in response["content"]["application/json"].get("examples", {}).values()
        ]
        for status, response in operation["responses"].items()
        if status != "200"
    }


def post_identify(client, body: bytes, content_type: str = "application/json"):
    return client.generic("POST", "/identify/", body, content_type=content_type)


def answer_lock_retries_exhausted(monkeypatch, client):
    def give_up(**identifiers):
        raise LocksChanged("the clusters kept changing")

    monkeypatch.setattr("contacts.views.identities.contact_identify", give_up)
    return post_identify(client, b'{"email": "lorraine@hillvalley.edu"}')


def answer_over_the_rate(identify_rate, monkeypatch, client):
    """Both requests at one instant half a second before the window ends, as the example says."""
    identify_rate("1/second")
    monkeypatch.setattr(PerClientRateThrottle, "timer", staticmethod(lambda: 1_800_000_000.5))
    post_identify(client, b'{"phoneNumber": "123456"}')
    return post_identify(client, b'{"phoneNumber": "123456"}')


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "answer"),
    [
        ("400", lambda client, **_: post_identify(client, b'{"email": "lorraine@"}')),
        (
            "413",
            lambda client, settings, **_: post_identify(
                client, b" " * (1 + settings.API_MAX_BODY_BYTES)
            ),
        ),
        ("415", lambda client, **_: post_identify(client, b"email=a", content_type="text/plain")),
        (
            "429",
            lambda client, identify_rate, monkeypatch, **_: answer_over_the_rate(
                identify_rate, monkeypatch, client
            ),
        ),
        (
            "503",
            lambda client, monkeypatch, **_: answer_lock_retries_exhausted(monkeypatch, client),
        ),
    ],
)
def test_each_error_example_of_identify_is_what_the_api_answers(
    client, settings, monkeypatch, identify_rate, status, answer
):
    [example] = documented_examples(client, "/identify/", "post")[status]

    response = answer(
        client=client, settings=settings, monkeypatch=monkeypatch, identify_rate=identify_rate
    )

    assert str(response.status_code) == status
    assert response.json() == example


@pytest.mark.parametrize(
    ("status", "credentials"),
    [("401", "none"), ("401", "unknown"), ("403", "lookup")],
)
def test_each_access_example_of_identify_is_what_the_api_answers(
    client, api_keys_required, status, credentials
):
    examples = documented_examples(client, "/identify/", "post")[status]
    keys = {
        "none": None,
        "unknown": "AbCdEfGh.not-the-secret",
        "lookup": api_keys_required(scopes=[Scope.LOOKUP]),
    }
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {keys[credentials]}"} if keys[credentials] else {}

    response = client.post(
        "/identify/", {"phoneNumber": "123456"}, content_type="application/json", **headers
    )

    assert str(response.status_code) == status
    assert response.json() in examples
    assert len(examples) == 2 if status == "401" else len(examples) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/health/", "/health/ready/"])
def test_the_health_examples_are_what_a_healthy_service_answers(client, path):
    operation = client.get("/api/schema/", {"format": "json"}).json()["paths"][path]["get"]
    [example] = operation["responses"]["200"]["content"]["application/json"]["examples"].values()

    assert client.get(path).json() == example["value"]


def test_the_not_ready_example_is_what_an_unreachable_database_answers(client, monkeypatch):
    paths = client.get("/api/schema/", {"format": "json"}).json()["paths"]
    operation = paths["/health/ready/"]["get"]
    [example] = operation["responses"]["503"]["content"]["application/json"]["examples"].values()

    def unreachable(_connection):
        raise OperationalError("connection refused")

    monkeypatch.setattr("contacts.health.MigrationExecutor", unreachable)
    response = client.get("/health/ready/")

    assert response.status_code == 503
    assert response.json() == example["value"]
