"""/api/schema/, /docs/, /redoc/: the schema documents the API, the pages load nothing external."""

import re

import pytest

LOCAL_URL = re.compile(r"^/(?!/)")


def test_the_schema_documents_identify_with_the_worked_examples(client):
    response = client.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    operation = response.json()["paths"]["/identify/"]["post"]
    assert set(operation["responses"]) == {"200", "400", "413", "415", "429", "503"}
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
    assert "/api/schema/" in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets
    assert all(LOCAL_URL.match(asset) for asset in assets), assets
    assert "https://" not in html
    assert "http://" not in html
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


def test_swagger_ui_does_not_call_the_online_validator(client):
    assert '"validatorUrl": null' in client.get("/docs/").content.decode()
