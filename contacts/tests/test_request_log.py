"""One JSON log line per request, with its request id and, for /identify/, what it did."""

import pytest
from django.db import OperationalError
from django.test import Client

from contacts.views import identities

pytestmark = pytest.mark.django_db


def request_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["logger"] == "contacts.requests"]


def post_identify(client: Client, body: dict, **headers: str):
    return client.post("/identify/", body, content_type="application/json", headers=headers)


def test_each_identify_request_logs_its_outcome(client, log_output):
    bodies = [
        {"email": "george@hillvalley.edu", "phoneNumber": "919191"},
        {"email": "george@hillvalley.edu", "phoneNumber": "111111"},
        {"email": "biffsucks@hillvalley.edu", "phoneNumber": "717171"},
        {"email": "george@hillvalley.edu", "phoneNumber": "717171"},
        {"phoneNumber": "717171"},
    ]

    responses = [post_identify(client, body) for body in bodies]

    lines = request_lines(log_output())
    assert [line["outcome"] for line in lines] == [
        "new_primary",
        "new_secondary",
        "new_primary",
        "merge",
        "unchanged",
    ]
    assert [line["request_id"] for line in lines] == [r["X-Request-ID"] for r in responses]


def test_a_request_logs_one_line_with_method_path_status_and_latency(client, log_output):
    response = post_identify(client, {"email": "not-an-email"})

    [line] = log_output()
    assert line["method"] == "POST"
    assert line["path"] == "/identify/"
    assert line["status"] == response.status_code == 400
    assert line["latency_ms"] >= 0
    assert line["level"] == "INFO"
    assert line["outcome"] == "rejected"


def test_an_incoming_request_id_is_kept_and_returned(client, log_output):
    response = post_identify(client, {"phoneNumber": "123456"}, x_request_id="checkout-42.a:b")

    assert response["X-Request-ID"] == "checkout-42.a:b"
    assert request_lines(log_output())[0]["request_id"] == "checkout-42.a:b"


@pytest.mark.parametrize("incoming", ["", "two words", "x" * 129, "semi;colon"])
def test_an_unusable_request_id_is_replaced(client, incoming):
    response = client.get("/health/", headers={"X-Request-ID": incoming})

    assert response["X-Request-ID"] != incoming
    assert len(response["X-Request-ID"]) == 32


def test_errors_are_logged_with_traceback_and_never_returned(monkeypatch, log_output):
    def crash(**kwargs):
        raise RuntimeError("secret detail of the crash")

    monkeypatch.setattr(identities, "contact_identify", crash)
    client = Client(raise_request_exception=False)

    response = post_identify(client, {"phoneNumber": "123456"})

    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error.", "code": "server_error"}
    assert b"secret detail" not in response.content
    lines = log_output()
    [error] = [line for line in lines if line["logger"] == "django.request"]
    assert "Traceback" in error["exc_info"]
    assert "RuntimeError: secret detail of the crash" in error["exc_info"]
    assert error["request_id"] == response["X-Request-ID"]
    [request_line] = request_lines(lines)
    assert request_line["status"] == 500
    assert request_line["level"] == "ERROR"


class LockNotAvailable(Exception):
    sqlstate = "55P03"


def test_a_lock_timeout_answers_503_and_is_logged_with_its_reason(monkeypatch, log_output):
    def time_out(**kwargs):
        raise OperationalError("canceling statement due to lock timeout") from LockNotAvailable()

    monkeypatch.setattr(identities, "contact_identify", time_out)

    response = post_identify(Client(), {"phoneNumber": "123456"})

    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert response.json()["code"] == "unavailable"
    [line] = request_lines(log_output())
    assert (line["outcome"], line["reason"], line["status"]) == ("unavailable", "lock_timeout", 503)
