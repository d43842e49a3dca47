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
