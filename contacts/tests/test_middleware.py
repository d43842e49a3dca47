"""Which middleware a request goes through: the API and the admin both keep the security checks;
the API's answers carry no session or CSRF cookie."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/identify/", "/identify"])
def test_the_api_keeps_the_security_headers_and_sets_no_cookie(api_client, path):
    response = api_client.post(path, {"email": "a@example.com"}, format="json")

    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Request-ID"]
    assert not response.cookies
    assert "Cookie" not in response.get("Vary", "")


def test_the_admin_still_goes_through_the_whole_stack(client):
    response = client.get("/admin/login/")

    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
    assert "csrftoken" in response.cookies


def test_the_api_is_still_redirected_to_https(api_client, settings):
    settings.SECURE_SSL_REDIRECT = True

    response = api_client.post("/identify/", {"email": "a@example.com"}, format="json")

    assert response.status_code == 301
    assert response["Location"] == "https://testserver/identify/"
