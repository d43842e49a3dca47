"""Bad input to POST /identify/: always 400 with a JSON body naming the problem, nothing written."""

import json

import pytest

from contacts.models import Contact, IdentityLink

pytestmark = [pytest.mark.django_db, pytest.mark.pooler]

VALID_EMAIL = "ok@example.com"


@pytest.fixture
def post_raw(client):
    def post(body: bytes):
        return client.generic("POST", "/identify/", body, content_type="application/json")

    return post


@pytest.fixture
def post_json(post_raw):
    """Send ``body`` as ASCII JSON, so that lone surrogates travel as ``\\ud800`` escapes."""

    def post(body: object):
        return post_raw(json.dumps(body).encode())

    return post


def assert_rejected(response, *, names: str) -> dict:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert names in json.dumps(body), body
    assert Contact.objects.count() == 0
    assert IdentityLink.objects.count() == 0
    return body


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        pytest.param(b"not json", "JSON parse error", id="not-json"),
        pytest.param(b'{"email": "a@example.com"', "JSON parse error", id="truncated-json"),
        pytest.param(b"\xff\xfe{}", "JSON parse error", id="invalid-utf8"),
        pytest.param(b'{"email": NaN}', "JSON parse error", id="nan-constant"),
        pytest.param(b"[1, 2]", "Expected a dictionary", id="array"),
        pytest.param(b'"a@example.com"', "Expected a dictionary", id="string"),
        pytest.param(b"42", "Expected a dictionary", id="number"),
        pytest.param(b"null", "No data provided", id="null"),
        pytest.param(b"", "Provide an email", id="empty-body"),
        pytest.param(b"{}", "Provide an email", id="empty-object"),
        pytest.param(b"[" * 5000 + b"]" * 5000, "nested too deeply", id="deeply-nested"),
    ],
)
def test_bodies_that_are_not_a_json_object_are_rejected(post_raw, raw, names):
    assert_rejected(post_raw(raw), names=names)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"email": None, "phoneNumber": None}, id="both-null"),
        pytest.param({"email": "", "phoneNumber": ""}, id="both-empty"),
        pytest.param({"email": "  ", "phoneNumber": " "}, id="both-blank"),
        pytest.param({"other": "x"}, id="only-unknown-keys"),
    ],
)
def test_requests_without_identifiers_are_rejected(post_json, body):
    body = assert_rejected(post_json(body), names="phoneNumber")
    assert "email" in body["detail"]


@pytest.mark.parametrize(
    "email",
    [
        pytest.param(True, id="boolean"),
        pytest.param(12345, id="integer"),
        pytest.param(1.5, id="float"),
        pytest.param(["a@example.com"], id="list"),
        pytest.param({"address": "a@example.com"}, id="object"),
        pytest.param("not-an-email", id="no-at"),
        pytest.param("a@", id="no-domain"),
        pytest.param("@example.com", id="no-local-part"),
        pytest.param("a b@example.com", id="space-inside"),
        pytest.param("a@example..com", id="double-dot"),
        pytest.param("a\x00@example.com", id="nul-byte"),
        pytest.param("a\ud800@example.com", id="lone-surrogate"),
        pytest.param("a" * 245 + "@example.com", id="longer-than-254"),
    ],
)
def test_invalid_emails_are_rejected(post_json, email):
    response = post_json({"email": email, "phoneNumber": "12345"})
    body = assert_rejected(response, names="email")
    assert set(body["errors"]) == {"email"}


@pytest.mark.parametrize(
    "phone",
    [
        pytest.param(True, id="boolean-true"),
        pytest.param(False, id="boolean-false"),
        pytest.param(12345.0, id="float"),
        pytest.param([12345], id="list"),
        pytest.param({"number": "12345"}, id="object"),
        pytest.param("12a45", id="letters"),
        pytest.param("12", id="too-few-digits"),
        pytest.param(12, id="too-few-digits-integer"),
        pytest.param("1" * 21, id="too-many-digits"),
        pytest.param(10**20, id="too-many-digits-integer"),
        pytest.param("++12345", id="two-pluses"),
        pytest.param("123+45", id="inner-plus"),
        pytest.param("١٢٣٤٥", id="non-ascii-digits"),
        pytest.param("12\x0045", id="nul-byte"),
        pytest.param("\ud800123", id="lone-surrogate"),
    ],
)
def test_invalid_phone_numbers_are_rejected(post_json, phone):
    response = post_json({"email": VALID_EMAIL, "phoneNumber": phone})
    body = assert_rejected(response, names="phoneNumber")
    assert set(body["errors"]) == {"phoneNumber"}


def test_every_invalid_field_is_named(post_json):
    response = post_json({"email": 1, "phoneNumber": "x"})

    body = assert_rejected(response, names="phoneNumber")
    assert set(body["errors"]) == {"email", "phoneNumber"}


@pytest.mark.parametrize("phone", ["+12345678901234567890", 12345678901234567890, "123"])
def test_phone_numbers_at_the_limits_are_accepted(api_client, phone):
    response = api_client.post("/identify/", {"phoneNumber": phone}, format="json")

    assert response.status_code == 200
    assert response.json()["contact"]["phoneNumbers"] == [str(phone)]


def test_email_of_254_characters_is_accepted(api_client):
    email = "a" * 64 + "@" + ".".join(["b" * 63, "c" * 63, "d" * 57]) + ".com"
    assert len(email) == 254

    response = api_client.post("/identify/", {"email": email}, format="json")

    assert response.status_code == 200
