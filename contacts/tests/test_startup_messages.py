"""What an operator reads at start and in the logs: a configuration error in one line, no
third-party banner on every command, one warning for a request to a host the service does not
serve."""

import logging

import pytest

from contacts.log_filters import DisallowedHostFilter

NO_SECRET_KEY = {"DEBUG": "false", "SECRET_KEY": ""}
START_GUNICORN = ("-m", "gunicorn", "--config", "gunicorn.conf.py", "--bind", "127.0.0.1:0")


def test_a_command_without_its_secret_key_says_so_in_one_line(django_process):
    result = django_process("manage.py", "migrate", "--check", env=NO_SECRET_KEY)

    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("Configuration error: SECRET_KEY is not set. Set the SECRET_KEY")


def test_traceback_still_shows_the_traceback_on_request(django_process):
    result = django_process("manage.py", "check", "--traceback", env=NO_SECRET_KEY)

    assert result.returncode == 1
    assert "Traceback" in result.stderr
    assert "ImproperlyConfigured: SECRET_KEY is not set" in result.stderr


def test_any_bad_setting_is_one_line(django_process):
    result = django_process("manage.py", "check", env={"WEB_CONCURRENCY": "two"})

    assert result.returncode == 1
    assert result.stderr == "Configuration error: WEB_CONCURRENCY='two': give a whole number.\n"


def test_gunicorn_without_its_secret_key_stops_before_binding_in_one_line(django_process):
    result = django_process(*START_GUNICORN, "bitespeed.wsgi", env=NO_SECRET_KEY)

    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("Configuration error: SECRET_KEY is not set.")


def test_commands_print_no_banner_of_django_axes(django_process):
    result = django_process("manage.py", "check", env={})

    assert result.returncode == 0, result.stderr
    assert result.stdout == "System check identified no issues (0 silenced).\n"
    assert "AXES" not in result.stderr


@pytest.mark.parametrize(
    ("host", "quoted"),
    [
        ("evil.example", "'evil.example'"),
        ("evil.example:8000", "'evil.example:8000'"),
        ("doc@example.com", "'[email]'"),
        ("a\r\nforged " + "x" * 5000, "'a\\r\\nforged " + "x" * 90 + "' (cut, 5010 characters)"),
    ],
    ids=["name", "with port", "personal data", "long with line breaks"],
)
def test_a_host_the_service_does_not_serve_is_one_warning_line(client, log_output, host, quoted):
    response = client.get("/identify/", HTTP_HOST=host)

    assert response.status_code == 400
    assert response.json()["code"] == "disallowed_host"
    [line] = [line for line in log_output() if line["logger"] == "django.security.DisallowedHost"]
    assert line["level"] == "WARNING"
    assert line["message"] == f"Host {quoted} is not in ALLOWED_HOSTS: answered 400"
    assert "exc_info" not in line
    assert "request" not in line
    assert line["request_id"] == response["X-Request-ID"]


def test_the_host_line_is_rewritten_once_where_two_filters_carry_it(rf):
    """A logger configured twice (``dictConfig`` adds its filters again) rewrites the line once."""
    record = logging.LogRecord(
        "django.security.DisallowedHost", logging.ERROR, __file__, 1, "Invalid", None, None
    )
    record.request = rf.get("/", HTTP_HOST="evil.example")

    for host_filter in (DisallowedHostFilter(), DisallowedHostFilter()):
        assert host_filter.filter(record)

    assert record.getMessage() == "Host 'evil.example' is not in ALLOWED_HOSTS: answered 400"
    assert record.levelname == "WARNING"
