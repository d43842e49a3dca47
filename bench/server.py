"""The benchmark's database and app server: re-create the database, configure Django, and start
and stop gunicorn as production runs it."""

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from psycopg import sql

from bench.paths import OUT, ROOT

SERVER_LOG = OUT / "server.log"
EMPTY_SERVER_LOG = OUT / "server-empty-db.log"


# --- Database and Django --------------------------------------------------------------------------


def recreate_database(url: str) -> None:
    dbname = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    if "bench" not in dbname:
        raise SystemExit(f"refusing to drop {dbname!r}: a benchmark database's name has 'bench'")
    maintenance = psycopg.conninfo.make_conninfo(url, dbname="postgres")
    with psycopg.connect(maintenance, autocommit=True) as admin:
        name = sql.Identifier(dbname)
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(name))


def app_environment(*, database: str, api_keys_required: bool = True) -> dict[str, str]:
    """Production settings: DEBUG off, the default persistent connections, one JSON log line per
    request."""
    return {
        **os.environ,
        "DATABASE_URL": database,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "INFO",
        "API_KEYS_REQUIRED": "true" if api_keys_required else "false",
    }


def server_environment(args: argparse.Namespace) -> dict[str, str]:
    """``app_environment`` (log lines written to ``SERVER_LOG``), gunicorn as ``gunicorn.conf.py``
    configures it."""
    return {
        **app_environment(database=args.database, api_keys_required=args.api_keys == "required"),
        "GUNICORN_WORKER_CLASS": args.worker_class,
        "WEB_CONCURRENCY": str(args.workers),
        "GUNICORN_THREADS": str(args.threads),
    }


def setup_django(environment: dict[str, str]) -> None:
    os.environ.update(environment)
    os.environ["DJANGO_SETTINGS_MODULE"] = "bitespeed.settings"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# --- gunicorn -------------------------------------------------------------------------------------


def start_server(
    args: argparse.Namespace, environment: dict[str, str], *, log_path: Path = SERVER_LOG
) -> subprocess.Popen:
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "--config=gunicorn.conf.py",
        f"--bind=127.0.0.1:{args.port}",
        "bitespeed.wsgi",
    ]
    with log_path.open("w") as log:
        server = subprocess.Popen(
            command, cwd=ROOT, env=environment, stderr=log, start_new_session=True
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}")
        if log_path.read_text().count("Worker ready") >= args.workers:
            return server
        time.sleep(0.1)
    stop_server(server)
    raise SystemExit("gunicorn's workers were not all ready within 30 s")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
