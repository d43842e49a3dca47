"""Which middleware a request goes through: the API keeps the security checks and skips the
admin's session middleware (``contacts.middleware.ApiMiddleware``); the admin keeps them all."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/identify/", "/identify"])
def test_the_api_keeps_the_security_headers_but_not_the_admins_middleware(api_client, path):
    response = api_client.post(path, {"email": "a@example.com"}, format="json")

    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Request-ID"]
    # Set on every response that goes through XFrameOptionsMiddleware, below ApiMiddleware.
    assert "X-Frame-Options" not in response


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
