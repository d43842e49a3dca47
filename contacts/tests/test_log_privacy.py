"""No email or phone number in any log line (issue 16, docs/privacy.md "No personal data in logs").

First the filter every log handler applies (``contacts.log_filters``): what it masks, what it must
leave alone, and how it rewrites a record (message, traceback, fields). Then the service's own
logging (Django's error records, a PostgreSQL error's DETAIL, DEBUG mode) and gunicorn's logger.
Last, one whole run of a real gunicorn started with ``gunicorn.conf.py`` at DEBUG level: every error
path is exercised with identifiers in every place a client can put one, and none of them may
appear in what the server wrote.
"""

import contextlib
import json
import logging
import os
import re
import runpy
import signal
import socket
import sys
import time
from collections.abc import Iterator
from http.client import HTTPConnection
from pathlib import Path

import pytest
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.test import Client
from gunicorn.config import Config

from contacts.log_filters import PersonalDataFilter, mask_personal_data
from contacts.models import BlockedIdentifier, IdentifierKind, MatchType
from contacts.normalize import normalize_email, normalize_phone_number
from contacts.services.governance import identifier_block
from contacts.tests.live_gunicorn import (
    Server,
    database_url,
    migrated_sqlite,
    start_gunicorn,
    stop_gunicorn,
)
from contacts.views import identities

# --- The filter: what it masks ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("doc@example.com", "[email]"),
        ("Doc.Brown+lab@Hill-Valley.example.co.uk", "[email]"),
        ("dóc@bücher.example", "[email]"),
        ("marty@@hillvalley..example", "[email]"),
        ("/identify/?email=doc%40example.com&source=web", "/identify/?email=[email]&source=web"),
        (
            "<WSGIRequest: POST '/identify/?email=doc@example.com'>",
            "<WSGIRequest: POST '/identify/?email=[email]'>",
        ),
        (
            "Invalid HTTP request line: 'GET doc@example.com HTTP/1.1'",
            "Invalid HTTP request line: 'GET [email] HTTP/1.1'",
        ),
    ],
    ids=[
        "plain",
        "tagged",
        "unicode",
        "mistyped",
        "percent-encoded",
        "request repr",
        "request line",
    ],
)
def test_emails_are_masked_wherever_they_are(text, masked):
    assert mask_personal_data(text) == masked


@pytest.mark.parametrize(
    "phone",
    [
        "5551234567",
        "+15551234567",
        "+1 (555) 123-4567",
        "(555) 123-4567",
        "555.123.4567",
        "555-123-4567",
        "+44 20 7946 0958",
        "0049-30-1234567",
        "5551234",
        "٥٥٥١٢٣٤٥٦٧",
    ],
)
def test_phone_numbers_are_masked_in_every_usual_form(phone):
    assert mask_personal_data(f"lookup of {phone} failed") == "lookup of [phone] failed"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("/identify/?phone=%2B15551234567", "/identify/?phone=[phone]"),
        ("/identify/?phone=555+123+4567", "/identify/?phone=[phone]"),
        ("/phones/555-123-4567/", "/phones/[phone]/"),
        ("tel:+15551234567", "tel:[phone]"),
        ("(1, 'doc@example.com', '+15551234567')", "(1, '[email]', '[phone]')"),
    ],
    ids=["percent-encoded", "plus for space", "in a path", "tel URI", "row repr"],
)
def test_phone_numbers_are_masked_in_urls_and_reprs(text, masked):
    assert mask_personal_data(text) == masked


@pytest.mark.parametrize(
    "message",
    [
        'duplicate key value violates unique constraint "contacts_contact_email_key"\n'
        "DETAIL:  Key (email)=(doc@example.com) already exists.\n",
        'new row for relation "contacts_contact" violates check constraint "phone_digits"\n'
        "DETAIL:  Failing row contains (7, doc@example.com, 5551234567, null, primary, "
        "2026-11-30 07:45:40.123+00, 2026-11-30 07:45:40.123+00, null).\n",
    ],
    ids=["unique violation", "check violation"],
)
def test_postgresql_detail_lines_are_dropped(message):
    masked = mask_personal_data(message)

    assert "DETAIL" not in masked
    assert "doc@example.com" not in masked
    assert "5551234567" not in masked
    assert masked == message.split("\n")[0] + "\n"


def test_a_detail_in_the_middle_of_a_line_is_cut_to_the_end_of_the_line():
    masked = mask_personal_data("IntegrityError: violation DETAIL: Key (email)=(doc@example.com)")

    assert masked == "IntegrityError: violation "


# --- The filter: what it leaves alone -------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-30T07:45:40",
        "2026-11-30T07:45:40.123456+00:00",
        "2026-11-30 07:45:40,123",
        "[2026-11-30 07:45:40 +0000] [12345] [INFO] Booting worker with pid: 12345",
        "30/11/2026",
        "latency 12.5 ms",
        "took 1234567.891 ms",
        "body larger than 10485760 bytes",
        "request_id=3f2a9c0e5b7d4e1f9a8b7c6d5e4f3a2b",
        "550e8400-e29b-41d4-a716-446655440000",
        "12345678-1234-1234-1234-123456789012",
        "Refused a request from ('127.0.0.1', 54321): 431",
        "postgres at 10.200.30.400:5432",
        "Listening at: http://0.0.0.0:8000",
        "Booting worker with pid: 4012345",
        "WORKER TIMEOUT (pid:4012345)",
        "Worker exiting (pid: 4012345)",
        "POST /identify/ 200",
        "GET /identities/123456/ 404",
        '  File "/work/main/contacts/views.py", line 1234, in post\n    @wraps(view)',
    ],
)
def test_timestamps_durations_ids_addresses_and_pids_are_left_alone(text):
    assert mask_personal_data(text) == text


def test_a_line_with_nothing_to_mask_is_returned_as_it_is():
    line = "POST /identify/ 200 in 12.5 ms, worker 4012, port 8000"

    assert mask_personal_data(line) is line


def test_the_logging_process_own_pid_is_left_alone():
    line = "Listening at: http://127.0.0.1:8000 (4012345)"

    assert mask_personal_data(line, keep=frozenset({"4012345"})) == line
    assert mask_personal_data(line) == "Listening at: http://127.0.0.1:8000 ([phone])"


# --- The filter: how it rewrites a record --------------------------------------------------------


def record_of(message: str, *args: object, **fields: object) -> logging.LogRecord:
    record = logging.LogRecord("contacts.test", logging.ERROR, __file__, 1, message, args, None)
    record.__dict__.update(fields)
    return record


def formatted(record: logging.LogRecord) -> str:
    """What the service's console handler writes for ``record``, once filtered."""
    [handler] = [handler for handler in logging.getLogger().handlers if handler.name == "console"]
    assert PersonalDataFilter().filter(record) is True
    return handler.format(record)


def test_the_message_is_rendered_once_and_masked():
    record = record_of("identify %s / %s failed", "doc@example.com", "+1 555 123 4567")

    PersonalDataFilter().filter(record)

    assert record.getMessage() == "identify [email] / [phone] failed"
    assert record.args is None


def test_an_exception_traceback_is_masked_and_not_rendered_again():
    try:
        raise ValueError("no contact for doc@example.com or 5551234567")
    except ValueError:
        record = record_of("lookup failed", exc_info=sys.exc_info())

    line = json.loads(formatted(record))

    assert record.exc_info is None
    assert "Traceback (most recent call last)" in line["exc_info"]
    assert "ValueError: no contact for [email] or [phone]" in line["exc_info"]
    assert "doc@example.com" not in json.dumps(line)


def test_an_exception_already_rendered_by_another_handler_is_rendered_again_masked():
    try:
        raise ValueError("doc@example.com")
    except ValueError:
        record = record_of("lookup failed", exc_info=sys.exc_info())
    logging.Formatter().format(record)  # caches the raw text in record.exc_text
    assert "doc@example.com" in record.exc_text

    PersonalDataFilter().filter(record)

    assert "doc@example.com" not in record.exc_text
    assert "ValueError: [email]" in record.exc_text


def test_stack_info_and_extra_fields_are_masked():
    class Request:
        def __str__(self) -> str:
            return "<WSGIRequest: GET '/identify/?email=doc@example.com'>"

    record = record_of(
        "GET %s 404",
        "/contacts/doc@example.com/",
        path="/contacts/doc@example.com/",
        request=Request(),
        status=404,
        latency_ms=12.5,
        request_id="5551234567",
        details={"emails": ["doc@example.com"], "count": 2},
        stack_info='Stack (most recent call last):\n  lookup("doc@example.com")',
    )

    line = json.loads(formatted(record))

    assert line["message"] == "GET /contacts/[email]/ 404"
    assert line["path"] == "/contacts/[email]/"
    assert line["request"] == "<WSGIRequest: GET '/identify/?email=[email]'>"
    assert (line["status"], line["latency_ms"]) == (404, 12.5)
    assert line["request_id"] == "[phone]"
    assert line["details"] == {"emails": ["[email]"], "count": 2}
    assert line["stack_info"].endswith('lookup("[email]")')


def test_a_message_whose_arguments_do_not_fit_is_kept_masked_instead_of_raising():
    record = record_of("identify %s and %s", "doc@example.com")

    assert PersonalDataFilter().filter(record) is True
    assert record.getMessage() == "identify %s and %s (arguments: ('[email]',))"


def test_a_dict_message_stays_a_dict():
    record = record_of({"event": "merge", "email": "doc@example.com", "contacts": 3})

    PersonalDataFilter().filter(record)

    assert record.msg == {"event": "merge", "email": "[email]", "contacts": 3}


def test_filtering_twice_changes_nothing_more():
    record = record_of("identify %s", "doc@example.com / 5551234567 DETAIL: x")
    PersonalDataFilter().filter(record)
    once = record.getMessage()

    PersonalDataFilter().filter(record)

    assert record.getMessage() == once == "identify [email] / [phone] "


# --- The service's logging ------------------------------------------------------------------------


def dumped(lines: list[dict]) -> str:
    return json.dumps(lines, ensure_ascii=False)


@pytest.mark.django_db
def test_an_exception_in_a_view_is_logged_without_the_identifiers_it_carries(
    monkeypatch, log_output
):
    def crash(**kwargs):
        raise RuntimeError("cannot link doc@example.com to +1 555 123 4567")

    monkeypatch.setattr(identities, "contact_identify", crash)
    client = Client(raise_request_exception=False)

    response = client.post(
        "/identify/?email=marty@hillvalley.example",
        {"email": "doc@example.com", "phoneNumber": "+1 555 123 4567"},
        content_type="application/json",
    )

    assert response.status_code == 500
    lines = log_output()
    [error] = [line for line in lines if line["logger"] == "django.request"]
    assert "Traceback" in error["exc_info"]
    assert "RuntimeError: cannot link [email] to [phone]" in error["exc_info"]
    assert error["request"] == "<WSGIRequest: POST '/identify/?email=[email]'>"
    for identifier in ("doc@example.com", "marty@hillvalley.example", "555 123 4567", "5551234567"):
        assert identifier not in dumped(lines)


@pytest.mark.django_db
def test_a_database_error_mid_write_is_logged_without_its_detail(monkeypatch, log_output):
    """The text psycopg gives a constraint violation on PostgreSQL, on either database."""

    def violate(**kwargs):
        raise IntegrityError(
            'new row for relation "contacts_contact" violates check constraint "x"\n'
            "DETAIL:  Failing row contains (7, doc@example.com, 5551234567, null, primary)."
        )

    monkeypatch.setattr(identities, "contact_identify", violate)

    response = Client(raise_request_exception=False).post(
        "/identify/", {"phoneNumber": "5551234567"}, content_type="application/json"
    )

    assert response.status_code == 500
    lines = log_output()
    [error] = [line for line in lines if line["logger"] == "django.request"]
    assert "violates check constraint" in error["exc_info"]
    assert "DETAIL" not in dumped(lines)
    assert "doc@example.com" not in dumped(lines)
    assert "5551234567" not in dumped(lines)


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_real_postgresql_constraint_violation_is_logged_without_its_row(monkeypatch, log_output):
    def violate(**kwargs):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMPORARY TABLE privacy_probe "
                "(email text UNIQUE, phone text CHECK (phone IS NULL))"
            )
            cursor.execute(
                "INSERT INTO privacy_probe VALUES (%s, %s)", ["doc@example.com", "5551234567"]
            )

    monkeypatch.setattr(identities, "contact_identify", violate)

    response = Client(raise_request_exception=False).post(
        "/identify/", {"phoneNumber": "5551234567"}, content_type="application/json"
    )

    assert response.status_code == 500
    lines = log_output()
    [error] = [line for line in lines if line["logger"] == "django.request"]
    assert "violates check constraint" in error["exc_info"]
    assert "IntegrityError" in error["exc_info"]
    assert "DETAIL" not in dumped(lines)
    assert "doc@example.com" not in dumped(lines)
    assert "5551234567" not in dumped(lines)


@pytest.mark.django_db
def test_the_request_line_of_an_unknown_path_masks_the_identifiers_in_it(client, log_output):
    response = client.get("/contacts/doc@example.com/5551234567/")

    assert response.status_code == 404
    [line] = [line for line in log_output() if line["logger"] == "contacts.requests"]
    assert line["message"] == "GET /contacts/[email]/[phone]/ 404"
    assert line["path"] == "/contacts/[email]/[phone]/"


def test_every_handler_of_djangos_loggers_is_filtered_also_with_debug_on(django_process):
    """Django's default logging prints its records unfiltered when DEBUG is on, and runserver's
    request lines with their query strings: the service's LOGGING leaves one handler."""
    script = (
        "import logging, django; django.setup(); "
        "logging.getLogger('django.request').error('Internal Server Error: /x/doc@example.com'); "
        "logging.getLogger('django.server').info('\"GET /?phone=5551234567 HTTP/1.1\" 200'); "
        "logging.getLogger('django.security.DisallowedHost').error('Host doc@example.com')"
    )

    result = django_process("-c", script, env={"DEBUG": "true", "LOG_LEVEL": "DEBUG"})

    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert output.count("[email]") == 2
    assert "[phone]" in output
    assert "doc@example.com" not in output
    assert "5551234567" not in output


# --- gunicorn's logger ----------------------------------------------------------------------------


@pytest.fixture
def gunicorn_logger(tmp_path: Path) -> Iterator[tuple[object, Path]]:
    """gunicorn's logger as ``gunicorn.conf.py`` makes it, writing its error and access logs (the
    access log as an operator would turn it on) to one file."""
    configuration = runpy.run_path(str(Path(settings.BASE_DIR) / "gunicorn.conf.py"))
    log_file = tmp_path / "gunicorn.log"
    cfg = Config()
    cfg.set("errorlog", str(log_file))
    cfg.set("accesslog", str(log_file))
    cfg.set("access_log_format", configuration["access_log_format"])
    loggers = [logging.getLogger("gunicorn.error"), logging.getLogger("gunicorn.access")]
    before = [(log.handlers[:], log.propagate, log.level) for log in loggers]
    logger = configuration["logger_class"](cfg)
    yield logger, log_file
    for log, (handlers, propagate, level) in zip(loggers, before, strict=True):
        for handler in log.handlers:
            if handler not in handlers:
                handler.close()
        log.handlers[:], log.propagate, log.level = handlers, propagate, level


def test_gunicorn_error_and_access_logs_are_filtered_after_every_setup(gunicorn_logger):
    logger, log_file = gunicorn_logger
    logger.setup(logger.cfg)  # as a reload (SIGHUP) does

    logger.warning("Invalid request from ip=127.0.0.1: 'GET /x?email=doc@example.com'")
    try:
        raise ValueError("no contact for marty@hillvalley.example")
    except ValueError:
        logger.exception("Error handling request %s %s", "POST", "/identify/?phone=5551234567")
    logger.access_log.info('127.0.0.1 "GET /phones/555-123-4567/ HTTP/1.1" status=404')

    written = log_file.read_text()
    assert "/x?email=[email]'" in written
    assert "Error handling request POST /identify/?phone=[phone]" in written
    assert "ValueError: no contact for [email]" in written
    assert "/phones/[phone]/ HTTP/1.1" in written
    for identifier in ("doc@example.com", "marty@hillvalley.example", "5551234567", "555-123-4567"):
        assert identifier not in written
    for log in (logger.error_log, logger.access_log):
        for handler in log.handlers:
            assert sum(isinstance(each, PersonalDataFilter) for each in handler.filters) == 1


def test_gunicorn_access_log_format_has_no_query_string_and_no_referrer(gunicorn_logger):
    logger, _ = gunicorn_logger
    log_format = logger.cfg.access_log_format

    # %(r)s is the whole request line and %(q)s the query string; %(f)s the referrer.
    for atom in ("%(r)s", "%(q)s", "%(f)s"):
        assert atom not in log_format
    assert "%(U)s" in log_format


# --- One whole run: every error path, logs captured at every level -------------------------------

# Every identifier the run sends: in the exact form sent, as digits, in canonical form.
Sent = list[str]


@pytest.fixture(scope="module")
def live_database(django_db_setup, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The test database on PostgreSQL; on SQLite, a migrated file the server can share."""
    if connection.vendor == "postgresql":
        return database_url()
    return migrated_sqlite(tmp_path_factory.mktemp("log-privacy"))


@pytest.fixture
def logging_server(
    live_database: str, transactional_db, tmp_path: Path
) -> Iterator[tuple[Server, Path]]:
    """gunicorn with ``gunicorn.conf.py`` at DEBUG level (gunicorn's and the service's), its
    stdout and stderr (both logs, and anything else printed) captured into one file."""
    if (
        connection.vendor == "postgresql"
        and not BlockedIdentifier.objects.filter(value="test@test.com").exists()
    ):
        # An earlier test emptied the database the server shares: block the placeholder again.
        identifier_block(
            kind=IdentifierKind.EMAIL, match=MatchType.EXACT, value="test@test.com", reason="seed"
        )
    log_file = tmp_path / "server.log"
    server = start_gunicorn(
        database=live_database,
        workers=1,
        worker_timeout=30,
        application_name="bitespeed-log-privacy",
        environment={
            "LOG_LEVEL": "DEBUG",
            "GUNICORN_THREADS": "2",
            "GUNICORN_REQUEST_READ_TIMEOUT": "1",
        },
        arguments=("--log-level", "debug", "--error-logfile", str(log_file), "--capture-output"),
    )
    try:
        yield server, log_file
    finally:
        stop_gunicorn(server.process)


def request(
    server: Server,
    method: str,
    target: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> int:
    client = HTTPConnection(server.url_host, server.port, timeout=15)
    try:
        client.request(
            method, target, body, {"Content-Type": "application/json", **(headers or {})}
        )
        response = client.getresponse()
        response.read()
        return response.status
    finally:
        client.close()


def post_identify(
    server: Server,
    sent: Sent,
    *,
    target: str = "/identify/",
    headers: dict[str, str] | None = None,
    **fields: str,
) -> int:
    """POST /identify/ with ``fields``, recorded in ``sent`` as they are sent, as their digits
    (phone numbers) and in their canonical forms (valid values)."""
    for name, value in fields.items():
        sent.append(value)
        if name == "phoneNumber":
            sent.append(re.sub(r"\D", "", value))
        with contextlib.suppress(ValueError):
            canonical = (normalize_email if name == "email" else normalize_phone_number)(value)
            sent.extend([canonical, canonical.lstrip("+")] if canonical else [])
    return request(server, "POST", target, body=json.dumps(fields).encode(), headers=headers)


def raw_request(server: Server, data: bytes, *, pause: float = 0.0) -> bytes:
    """Send ``data`` over a socket (nothing more after ``pause`` seconds) and read the answer."""
    with socket.create_connection((server.url_host, server.port), timeout=10) as sock:
        sock.sendall(data)
        time.sleep(pause)
        return sock.makefile("rb").read()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def exercise_every_error_path(server: Server, sent: Sent) -> dict[str, int]:
    statuses: dict[str, int] = {}

    statuses["identify"] = post_identify(
        server, sent, email="Lorraine.Baines@HillValley.example", phoneNumber="+1 (555) 010-4477"
    )
    statuses["identify, merging"] = post_identify(
        server, sent, email="george.mcfly@hillvalley.example", phoneNumber="+1 (555) 010-4477"
    )
    statuses["identify, phone only"] = post_identify(server, sent, phoneNumber="555.010.9911")
    statuses["identify, email in the query string"] = post_identify(
        server,
        sent,
        target="/identify/?email=doc.brown%40hillvalley.example&phone=%2B15550103344",
        phoneNumber="555-010-3344",
    )
    sent += ["doc.brown%40hillvalley.example", "doc.brown@hillvalley.example", "%2B15550103344"]

    bad_json = b'{"email": "biff.tannen@hillvalley.example", "phoneNumber": "5550107788"'
    sent += ["biff.tannen@hillvalley.example", "5550107788"]
    statuses["bad JSON"] = request(server, "POST", "/identify/", body=bad_json)
    statuses["invalid email"] = post_identify(
        server, sent, email="marty@hillvalley..example", phoneNumber="555 010 5151"
    )
    statuses["invalid phone"] = post_identify(
        server, sent, phoneNumber="+44 7700 900123 4567 8901 234"
    )
    statuses["blocked"] = post_identify(server, sent, email="test@test.com")

    oversized = json.dumps(
        {"email": "jennifer.parker@hillvalley.example", "pad": "x" * settings.API_MAX_BODY_BYTES}
    ).encode()
    sent.append("jennifer.parker@hillvalley.example")
    statuses["oversized body"] = request(server, "POST", "/identify/", body=oversized)

    sent += ["clara.clayton@hillvalley.example", "5550106060"]
    statuses["wrong method"] = request(
        server, "GET", "/identify/?email=clara.clayton@hillvalley.example&phone=5550106060"
    )
    sent += ["einstein@hillvalley.example", "555-010-2020", "emmett%40hillvalley.example"]
    sent.append("emmett@hillvalley.example")
    statuses["unknown path"] = request(server, "GET", "/contacts/einstein@hillvalley.example/")
    statuses["unknown path, phone"] = request(server, "GET", "/phones/555-010-2020/")
    statuses["unknown path, encoded"] = request(
        server, "GET", "/lookup/emmett%40hillvalley.example"
    )
    sent.append("5550107070")
    statuses["phone as request id"] = post_identify(
        server, sent, headers={"X-Request-ID": "5550107070"}, phoneNumber="555 010 7071"
    )

    host = f"Host: {server.url_host}\r\n".encode()
    sent += ["needles@hillvalley.example", "biff@hillvalley.example"]
    statuses["malformed request line"] = status_of(
        raw_request(server, b"GET needles@hillvalley.example HTTP/1.1\r\n" + host + b"\r\n")
    )
    statuses["request line without a version"] = status_of(
        raw_request(server, b"GET /identify/?email=biff@hillvalley.example\r\n" + host + b"\r\n")
    )
    sent += ["+1 555 010 6655", "5550106655"]
    padding = b"".join(b"X-Pad-%d: %s\r\n" % (index, b"a" * 1000) for index in range(40))
    statuses["oversized headers"] = status_of(
        raw_request(
            server,
            b"GET /identify/ HTTP/1.1\r\n"
            + host
            + b"X-Phone: +1 555 010 6655\r\n"
            + padding
            + b"\r\n",
        )
    )
    sent.append("lou.caruthers@hillvalley.example")
    statuses["unfinished request"] = status_of(
        raw_request(
            server,
            b"POST /identify/?email=lou.caruthers@hillvalley.example HTTP/1.1\r\n"
            + host
            + b"Content-Length: 100\r\n\r\n{",
            pause=1.5,
        )
    )
    # A worker killed mid-life: the master reports it and starts another.
    [worker] = server.worker_pids()
    os.kill(worker, signal.SIGKILL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and server.worker_pids() in ([], [worker]):
        time.sleep(0.1)
    statuses["after a killed worker"] = post_identify(server, sent, phoneNumber="555-010-8080")
    return statuses


def test_no_identifier_any_request_sent_appears_in_the_servers_logs(logging_server):
    server, log_file = logging_server
    sent: Sent = []

    statuses = exercise_every_error_path(server, sent)
    stop_gunicorn(server.process)  # every worker has written and flushed its last line
    logs = log_file.read_text(errors="replace")

    assert statuses == {
        "identify": 200,
        "identify, merging": 200,
        "identify, phone only": 200,
        "identify, email in the query string": 200,
        "bad JSON": 400,
        "invalid email": 400,
        "invalid phone": 400,
        "blocked": 422,
        "oversized body": 413,
        "wrong method": 405,
        "unknown path": 404,
        "unknown path, phone": 404,
        "unknown path, encoded": 404,
        "phone as request id": 200,
        "malformed request line": 400,
        "request line without a version": 400,
        "oversized headers": 431,
        "unfinished request": 408,
        "after a killed worker": 200,
    }
    # The logs are there, at every level, so that the search below cannot pass on an empty file.
    request_lines = [
        json.loads(line)
        for line in logs.splitlines()
        if line.startswith("{") and '"logger": "contacts.requests"' in line
    ]
    assert {line["status"] for line in request_lines} >= {200, 400, 404, 405, 422}
    assert "[DEBUG]" in logs
    assert "Invalid request from ip=127.0.0.1" in logs
    assert "was sent SIGKILL" in logs
    for status in (408, 413, 431):
        assert f": {status} The request" in logs

    searched = {form for value in sent for form in (value, value.lower())}
    leaked = sorted(form for form in searched if form in logs or form in logs.lower())
    assert not leaked, f"identifiers in the logs: {leaked}"
    # Masked, not merely absent: the lines that carried them are there.
    assert "/contacts/[email]/" in logs
    assert '"request_id": "[phone]"' in logs
