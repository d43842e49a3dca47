"""Limits of the API: a cap on the body size (413) and an optional rate limit (429), as JSON."""

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from django.core.cache import cache
from django.test import Client

from contacts.models import Contact

pytestmark = pytest.mark.django_db


def padded_body(size: int) -> bytes:
    """A valid request of exactly ``size`` bytes: JSON allows any amount of whitespace."""
    body = json.dumps({"email": "pad@example.com"}).encode()
    return body[:-1] + b" " * (size - len(body)) + b"}"


def post_raw(client, body: bytes):
    return client.generic("POST", "/identify/", body, content_type="application/json")


def test_a_body_at_the_cap_is_read(client, settings):
    settings.API_MAX_BODY_BYTES = 1024

    response = post_raw(client, padded_body(1024))

    assert response.status_code == 200
    assert response.json()["contact"]["emails"] == ["pad@example.com"]


def test_a_body_over_the_cap_is_413_json_and_writes_nothing(client, settings):
    settings.API_MAX_BODY_BYTES = 1024

    response = post_raw(client, padded_body(1025))

    assert response.status_code == 413
    assert response.json() == {
        "detail": "The request body is larger than 1024 bytes.",
        "code": "payload_too_large",
    }
    assert Contact.objects.count() == 0


def test_requests_over_the_rate_get_429_json_with_retry_after(client, identify_rate):
    identify_rate("2/minute")

    statuses = [post_raw(client, b'{"phoneNumber": "123456"}').status_code for _ in range(2)]
    throttled = post_raw(client, b'{"phoneNumber": "123456"}')

    assert statuses == [200, 200]
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "throttled"
    assert int(throttled["Retry-After"]) > 0


def test_without_a_rate_there_is_no_limit(client, identify_rate):
    identify_rate(None)

    statuses = {post_raw(client, b'{"phoneNumber": "123456"}').status_code for _ in range(30)}

    assert statuses == {200}


def test_behind_a_proxy_each_client_address_has_its_own_budget(client, identify_rate, settings):
    settings.NUM_PROXIES = 1
    identify_rate("1/minute")

    def post_from(address: str) -> int:
        return client.post(
            "/identify/",
            {"phoneNumber": "123456"},
            content_type="application/json",
            REMOTE_ADDR="10.0.0.2",
            HTTP_X_FORWARDED_FOR=f"198.51.100.9, {address}",
        ).status_code

    assert [post_from("203.0.113.1"), post_from("203.0.113.1")] == [200, 429]
    assert post_from("203.0.113.2") == 200


def test_without_redis_each_worker_allows_its_share_of_the_rate(client, identify_rate, settings):
    identify_rate("4/minute")
    settings.WEB_CONCURRENCY = 2

    statuses = [post_raw(client, b'{"phoneNumber": "123456"}').status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


@pytest.fixture
def shared_redis(settings):
    """The cache on the machine's Redis (database 15), as ``REDIS_URL`` makes it."""
    settings.REDIS_URL = "redis://127.0.0.1:6379/15"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.REDIS_URL,
        }
    }
    cache.clear()
    yield
    cache.clear()


def test_on_redis_concurrent_requests_never_exceed_the_rate(identify_rate, shared_redis):
    """Threads with clients of their own, as workers on several machines would be: the shared
    counter is incremented atomically, so exactly the rate passes. (The body is refused after the
    rate check, so the requests need no database.)"""
    identify_rate("5/minute")
    start = threading.Barrier(12)

    def send(_: int) -> int:
        start.wait()
        return post_raw(Client(), b"{}").status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(send, range(12)))

    assert sorted(statuses) == [400] * 5 + [429] * 7


def test_on_redis_a_window_counts_in_one_counter_that_expires_with_it(
    identify_rate, shared_redis, settings
):
    """The window's first request creates its counter with the window's expiry; the others only
    increment it, which keeps that expiry."""
    identify_rate("5/minute")

    for _ in range(3):
        post_raw(Client(), b"{}")

    server = redis.Redis.from_url(settings.REDIS_URL)
    (counter,) = server.keys("*throttle_identify_*")
    assert int(server.get(counter)) == 3
    assert 0 < server.ttl(counter) <= 61


PRINT_RATE = (
    "-c",
    "import django; django.setup(); from django.conf import settings; "
    "print(settings.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['identify'])",
)


@pytest.mark.parametrize(
    ("environment", "rate"),
    [
        ({"API_KEYS_REQUIRED": None, "IDENTIFY_RATE_LIMIT": None}, "6000/min"),
        ({"API_KEYS_REQUIRED": "false", "IDENTIFY_RATE_LIMIT": None}, "None"),
        ({"API_KEYS_REQUIRED": None, "IDENTIFY_RATE_LIMIT": "off"}, "None"),
        ({"API_KEYS_REQUIRED": "false", "IDENTIFY_RATE_LIMIT": "100/s"}, "100/s"),
    ],
    ids=["production-default", "keys-off-default", "turned-off", "set"],
)
def test_the_default_rate_limits_every_server_that_requires_keys(django_process, environment, rate):
    result = django_process(*PRINT_RATE, env=environment)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == rate


def test_a_malformed_rate_stops_the_settings_from_loading(django_process):
    result = django_process(*PRINT_RATE, env={"IDENTIFY_RATE_LIMIT": "lots"})

    assert result.returncode != 0
    assert "IDENTIFY_RATE_LIMIT='lots'" in result.stderr
