"""Which middleware a request goes through: the API and the admin both keep the security checks;
the API's answers carry no session or CSRF cookie, and its requests build no session or message
storage."""

from importlib import import_module

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


def test_the_api_never_builds_a_session(api_client, monkeypatch, settings):
    built = []
    engine = import_module(settings.SESSION_ENGINE)
    monkeypatch.setattr(engine, "SessionStore", built.append)

    response = api_client.post("/identify/", {"email": "a@example.com"}, format="json")

    assert response.status_code == 200
    assert built == []


def test_a_staff_login_without_a_session_cookie_starts_a_session(client, django_user_model):
    django_user_model.objects.create_user(
        username="support", password="correct horse battery staple", is_staff=True
    )

    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "support", "password": "correct horse battery staple"},
    )

    assert response.status_code == 302
    assert "sessionid" in response.cookies
    assert client.get("/admin/").status_code == 200


def test_the_api_never_builds_the_message_storage(api_client, monkeypatch):
    built = []
    monkeypatch.setattr("contacts.lazy_middleware.default_storage", built.append)

    response = api_client.post("/identify/", {"email": "a@example.com"}, format="json")

    assert response.status_code == 200
    assert built == []


def test_a_message_of_one_admin_page_is_shown_on_the_next(admin_client):
    response = admin_client.post("/admin/auth/group/add/", {"name": "Support"}, follow=True)

    assert response.redirect_chain[-1][0] == "/admin/auth/group/"
    assert "was added successfully" in response.content.decode()
    assert "was added successfully" not in admin_client.get("/admin/auth/group/").content.decode()
