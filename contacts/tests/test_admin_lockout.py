"""Password guessing at the admin login is locked out (django-axes); passwords are validated."""

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-and-unusual-passphrase"


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(
        username="support", password=PASSWORD, is_staff=True, is_superuser=True
    )


def log_in(client: Client, *, password: str):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": "support", "password": password, "next": "/admin/"},
    )


def test_repeated_failures_lock_out_even_the_right_password(staff_user, settings):
    client = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(client, password="guess").status_code == 200

    locked = log_in(client, password="guess")
    after_lockout = log_in(client, password=PASSWORD)

    assert locked.status_code == after_lockout.status_code == 429
    assert client.get("/admin/").status_code == 302


def test_the_lockout_is_per_address(staff_user, settings):
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(attacker, password="guess")

    colleague = Client(REMOTE_ADDR="198.51.100.1")

    assert log_in(colleague, password=PASSWORD).status_code == 302
    assert colleague.get("/admin/").status_code == 200


def test_a_success_resets_the_count(staff_user, settings):
    client = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, password="guess")
    assert log_in(client, password=PASSWORD).status_code == 302
    client.logout()

    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(client, password="guess").status_code == 200
    assert log_in(client, password=PASSWORD).status_code == 302


@pytest.mark.parametrize("weak", ["short", "password123", "12345678901", "support1"])
def test_weak_staff_passwords_are_refused(staff_user, weak):
    with pytest.raises(ValidationError):
        validate_password(weak, user=staff_user)


class TestBehindAProxy:
    PROXY = "10.0.0.2"

    def from_client(self, address: str) -> Client:
        """A browser at ``address`` whose requests reach the service through the proxy."""
        return Client(REMOTE_ADDR=self.PROXY, HTTP_X_FORWARDED_FOR=f"{address}")

    def test_failures_from_many_clients_do_not_lock_out_another(self, staff_user, settings):
        settings.NUM_PROXIES = 1
        for number in range(settings.AXES_FAILURE_LIMIT):
            log_in(self.from_client(f"203.0.113.{number}"), password="guess")

        owner = self.from_client("198.51.100.1")

        assert log_in(owner, password=PASSWORD).status_code == 302

    def test_failures_from_one_client_lock_out_that_client(self, staff_user, settings):
        settings.NUM_PROXIES = 1
        attacker = self.from_client("203.0.113.7")
        for _ in range(settings.AXES_FAILURE_LIMIT):
            log_in(attacker, password="guess")

        assert log_in(attacker, password=PASSWORD).status_code == 429

    def test_a_forged_address_left_of_the_proxys_entry_does_not_help(self, staff_user, settings):
        settings.NUM_PROXIES = 1
        for number in range(settings.AXES_FAILURE_LIMIT):
            forged = Client(
                REMOTE_ADDR=self.PROXY, HTTP_X_FORWARDED_FOR=f"192.0.2.{number}, 203.0.113.7"
            )
            log_in(forged, password="guess")

        assert log_in(self.from_client("203.0.113.7"), password=PASSWORD).status_code == 429


def test_a_staff_session_lasts_a_working_day(staff_user, settings):
    client = Client()
    log_in(client, password=PASSWORD)

    assert client.session.get_expiry_age() == settings.SESSION_COOKIE_AGE == 8 * 3600
