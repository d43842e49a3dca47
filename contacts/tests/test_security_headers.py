"""The security headers every page and answer carries: the Content-Security-Policy, its one
widening on ReDoc's page, Django's own headers, the staff session's cookie, and what HTTPS adds.

The browser test (test_browser.py) shows the pages work under this policy; this one pins the
policy itself, so that a loosened directive shows up here first.
"""

import json
import re
import secrets

import pytest
from django.http import HttpResponse
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"

# The whole site's policy, directive by directive: no 'unsafe-inline', no 'unsafe-eval', no other
# origin.
SITE_POLICY = {
    "default-src": {"'self'"},
    "script-src": {"'self'"},
    "style-src": {"'self'"},
    "img-src": {"'self'", "data:"},
    "object-src": {"'none'"},
    "base-uri": {"'self'"},
    "form-action": {"'self'"},
    "frame-ancestors": {"'none'"},
}

OTHER_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def policy_of(response: HttpResponse) -> dict[str, set[str]]:
    directives = (part.split() for part in response["Content-Security-Policy"].split(";"))
    return {name: set(sources) for name, *sources in directives}


@pytest.fixture
def superuser_client(django_user_model) -> Client:
    """A client signed in to the admin as a superuser."""
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("support"))
    return client


# The API's JSON answers: nothing of a page is allowed.
API_POLICY = {"default-src": {"'none'"}, "frame-ancestors": {"'none'"}}

# (who asks, method, path, body): the admin signed out and in, the API docs, the schema, and the
# API's answers (a success and an error).
REQUESTS = [
    ("anonymous", "get", "/admin/login/", None),
    ("staff", "get", "/admin/", None),
    ("staff", "get", "/admin/contacts/contact/", None),
    ("anonymous", "get", "/docs/", None),
    ("anonymous", "get", "/docs/?script=", None),
    ("anonymous", "get", "/api/schema/", None),
    ("anonymous", "post", "/identify/", {"email": "lorraine@example.com"}),
    ("anonymous", "post", "/identify/", {"email": "not an email"}),
]


@pytest.mark.parametrize(
    ("who", "method", "path", "body"),
    REQUESTS,
    ids=[f"{who}-{method}-{path}-{body}" for who, method, path, body in REQUESTS],
)
def test_every_page_and_answer_carries_its_policy_and_the_other_headers(
    request, who, method, path, body
):
    client = request.getfixturevalue("superuser_client") if who == "staff" else Client()

    if method == "post":
        response = client.post(path, body, content_type="application/json")
    else:
        response = client.get(path)

    assert response.status_code in {200, 400}, response.status_code
    is_api_answer = response["Content-Type"] == "application/json"
    assert is_api_answer == path.startswith("/identify/")
    assert policy_of(response) == (API_POLICY if is_api_answer else SITE_POLICY)
    assert "Content-Security-Policy-Report-Only" not in response
    for header, value in OTHER_HEADERS.items():
        assert response[header] == value, header


@pytest.mark.usefixtures("collected_static")
def test_static_files_carry_the_policy_too(client):
    response = client.get("/static/contacts/docs/swagger-ui.css")

    assert response.status_code == 200
    assert policy_of(response) == SITE_POLICY
    # WhiteNoise answers before XFrameOptionsMiddleware: frame-ancestors 'none' refuses framing.
    assert "X-Frame-Options" not in response
    for header, value in OTHER_HEADERS.items():
        if header != "X-Frame-Options":
            assert response[header] == value, header


def test_redoc_alone_adds_a_fresh_nonce_its_bundles_sheet_and_a_blob_worker(client):
    pages = [client.get("/redoc/"), client.get("/redoc/")]

    nonces = [re.search(r'nonce="([^"]+)"', page.content.decode())[1] for page in pages]
    assert nonces[0] != nonces[1]
    for page, nonce in zip(pages, nonces, strict=True):
        policy = policy_of(page)
        styles = policy.pop("style-src")
        others = {name: sources for name, sources in SITE_POLICY.items() if name != "style-src"}
        assert policy == {**others, "worker-src": {"blob:"}}
        # Beside the site's 'self' and this response's nonce, only exact sheets, by their hash.
        hashes = {source for source in styles if source.startswith("'sha256-")}
        assert hashes
        assert styles - hashes == {"'self'", f"'nonce-{nonce}'"}
        for header, value in OTHER_HEADERS.items():
            assert page[header] == value, header


def test_a_staff_session_cookie_lasts_a_working_day_out_of_scripts_reach(django_user_model):
    django_user_model.objects.create_user(username="support", password=PASSWORD, is_staff=True)

    response = Client().post(
        "/admin/login/", {"username": "support", "password": PASSWORD, "next": "/admin/"}
    )

    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["max-age"] == 8 * 3600
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"
    # Served over plain HTTP here (HTTPS off); HTTPS=true makes it secure (below).
    assert not session["secure"]
    assert "Strict-Transport-Security" not in response


SHOW_HTTPS = """
import json
import django
django.setup()
from django.conf import settings
from django.test import Client
client = Client()
behind_the_proxy = {"HTTP_X_FORWARDED_PROTO": "https"}
plain = client.get("/api/schema/")
secure = client.get("/api/schema/", **behind_the_proxy)
script = client.get("/docs/", {"script": ""}, **behind_the_proxy)
print(json.dumps({
    "plain": [plain.status_code, plain["Location"]],
    "hsts": secure["Strict-Transport-Security"],
    "csrf_cookie_secure": bool(script.cookies["csrftoken"]["secure"]),
    "session_cookie_secure": settings.SESSION_COOKIE_SECURE,
}))
"""


def test_https_adds_a_redirect_hsts_and_secure_cookies(django_process):
    """Settings are read at start-up: HTTPS=true is tried in a process of its own."""
    env = {
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "testserver",
        "HTTPS": "true",
        "SECURE_HSTS_SECONDS": None,
    }

    result = django_process("-c", SHOW_HTTPS, env=env)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "plain": [301, "https://testserver/api/schema/"],
        "hsts": "max-age=31536000; includeSubDomains; preload",
        "csrf_cookie_secure": True,
        "session_cookie_secure": True,
    }
