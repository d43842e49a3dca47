"""A real gunicorn, started as production starts it (``gunicorn.conf.py``), for tests over HTTP:
the fault suite (test_faults.py) and slow clients (test_slow_clients.py)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

START_SECONDS = 30


@dataclass
class Server:
    url_host: str
    port: int
    process: subprocess.Popen
    application_name: str

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url(*, port: int | None = None) -> str:
    """The PostgreSQL test database's URL (through another port, e.g. a proxy's, if given)."""
    database = connection.settings_dict
    address = f"{database['HOST']}:{port or database['PORT']}"
    return f"postgres://{database['USER']}@{address}/{database['NAME']}"


def migrated_sqlite(directory: Path) -> str:
    """A new SQLite database file in ``directory``, migrated: the URL a server can share."""
    url = f"sqlite:///{directory / 'live.sqlite3'}"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "--verbosity", "0"],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DATABASE_URL": url},
        check=True,
    )
    return url


def post(server: Server, body: dict, *, timeout: float = 15.0) -> tuple[int, bytes]:
    client = HTTPConnection(server.url_host, server.port, timeout=timeout)
    try:
        client.request("POST", "/identify/", json.dumps(body), {"Content-Type": "application/json"})
        response = client.getresponse()
        return response.status, response.read()
    finally:
        client.close()


def start_gunicorn(
    *,
    database: str,
    workers: int,
    worker_timeout: int,
    application_name: str,
    environment: dict[str, str],
    arguments: tuple[str, ...] = (),
) -> Server:
    """gunicorn with ``gunicorn.conf.py`` on a free port, once it answers ``POST /identify/``.

    ``environment`` adds to the test process's and the production settings below (keys not
    required); ``arguments`` are more command-line options.
    """
    port = free_port()
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"),
            *("--bind", f"127.0.0.1:{port}", "--workers", str(workers)),
            *("--timeout", str(worker_timeout), *arguments, "bitespeed.wsgi"),
        ],
        cwd=settings.BASE_DIR,
        env={
            **os.environ,
            "DATABASE_URL": database,
            "SECRET_KEY": "live-gunicorn-tests",
            "DEBUG": "false",
            "ALLOWED_HOSTS": "127.0.0.1",
            "API_KEYS_REQUIRED": "false",
            "DB_APPLICATION_NAME": application_name,
            **environment,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = Server("127.0.0.1", port, process, application_name)
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        try:
            post(server, {"phoneNumber": "000"}, timeout=2)
            return server
        except OSError:
            time.sleep(0.2)
    stop_gunicorn(process)
    pytest.fail("gunicorn did not start")


def stop_gunicorn(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
