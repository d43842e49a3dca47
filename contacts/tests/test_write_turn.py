"""SQLite writers wait for their turn (``contacts.locking.write_turn``): the threads of a process
one at a time, and the processes through a file lock beside the database."""

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import OperationalError, connection

from contacts.db.sqlite import SQLiteBackend
from contacts.locking import write_turn

pytestmark = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="write turns are SQLite's; PostgreSQL locks rows"
)

HOLD_FILE_LOCK = """
import fcntl, os, sys, time
descriptor = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(descriptor, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def turn_file(tmp_path, monkeypatch) -> str:
    """A file-backed database's turn file (the test database lives in memory)."""
    path = str(tmp_path / "db.sqlite3.writer-turn")
    monkeypatch.setattr(SQLiteBackend, "_writer_turn_path", lambda self: path)
    return path


@pytest.fixture
def other_process_holding(turn_file):
    """Start another process that holds the turn until the returned function is called."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_FILE_LOCK, turn_file],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"

    def release() -> None:
        holder.stdin.close()
        holder.wait(timeout=10)

    yield release
    if holder.poll() is None:
        release()


def test_threads_of_a_process_write_one_at_a_time(turn_file):
    inside = 0
    most_inside = 0
    count = threading.Lock()

    def write() -> None:
        nonlocal inside, most_inside
        with write_turn():
            with count:
                inside += 1
                most_inside = max(most_inside, inside)
            time.sleep(0.01)
            with count:
                inside -= 1

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: write(), range(16)))

    assert most_inside == 1


def test_a_writer_waits_for_another_process_and_then_writes(other_process_holding, settings):
    settings.SQLITE_BUSY_TIMEOUT = 5
    threading.Timer(0.3, other_process_holding).start()
    started = time.monotonic()

    with write_turn():
        waited = time.monotonic() - started

    assert 0.25 <= waited < 2


def test_no_turn_within_the_busy_timeout_is_a_database_error(other_process_holding, settings):
    settings.SQLITE_BUSY_TIMEOUT = 0.2

    with pytest.raises(OperationalError, match="no turn to write"), write_turn():
        pass


@pytest.mark.django_db
def test_identify_answers_503_when_no_turn_comes(other_process_holding, settings, api_client):
    settings.SQLITE_BUSY_TIMEOUT = 0.2

    response = api_client.post("/identify/", {"email": "new@example.com"}, format="json")

    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"
    assert response["Retry-After"]
