"""Run a command with a PgBouncer of its own in front of PostgreSQL (make test-pgbouncer).

Starts Debian's ``pgbouncer`` on a spare loopback port in transaction mode with its stock
startup-parameter rules (no ``ignore_startup_parameters``), pointing at the PostgreSQL of
``POSTGRES_URL`` (default ``postgres://postgres@127.0.0.1:5432/postgres``); runs the command with
``DATABASE_URL`` through it and ``DATABASE_POOL_MODE=transaction``; stops it by its PID; exits with
the command's status. PostgreSQL's own configuration is left as it is.

Usage: ``python .ci/pgbouncer.py [--port N] -- pytest -m postgres …`` (a spare port unless
``--port`` names one, for a command that must know it in advance, as ``make bench``'s
``--database`` does).
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit


def spare_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def config(*, directory: Path, port: int, server: str) -> Path:
    target = urlsplit(server)
    user = target.username or "postgres"
    (directory / "users.txt").write_text(f'"{user}" ""\n')
    path = directory / "pgbouncer.ini"
    path.write_text(
        "\n".join(
            [
                "[databases]",
                f"* = host={target.hostname or '127.0.0.1'} port={target.port or 5432}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {port}",
                f"unix_socket_dir = {directory}",
                "auth_type = trust",
                f"admin_users = {user}",
                f"auth_file = {directory / 'users.txt'}",
                "pool_mode = transaction",
                "max_client_conn = 500",
                "default_pool_size = 40",
                "log_connections = 0",
                "log_disconnections = 0",
                f"logfile = {directory / 'pgbouncer.log'}",
                f"pidfile = {directory / 'pgbouncer.pid'}",
                "",
            ]
        )
    )
    return path


def wait_for(port: int, *, process: subprocess.Popen, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"pgbouncer exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"pgbouncer did not listen on {port} within {seconds} s")


def main() -> int:
    command = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else []
    if not command:
        raise SystemExit(__doc__)
    options = sys.argv[1 : sys.argv.index("--")]
    executable = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    server = os.environ.get("POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    port = int(options[options.index("--port") + 1]) if "--port" in options else spare_port()
    with tempfile.TemporaryDirectory(prefix="pgbouncer-") as scratch:
        directory = Path(scratch)
        directory.chmod(0o777)
        ini = config(directory=directory, port=port, server=server)
        as_user = ["-u", "postgres"] if os.geteuid() == 0 else []
        bouncer = subprocess.Popen([executable, "-q", *as_user, str(ini)])
        try:
            wait_for(port, process=bouncer)
            database = urlsplit(server).path.lstrip("/") or "postgres"
            user = urlsplit(server).username or "postgres"
            environment = {
                **os.environ,
                "DATABASE_URL": f"postgres://{user}@127.0.0.1:{port}/{database}",
                "DATABASE_POOL_MODE": "transaction",
            }
            print(f"== through pgbouncer on 127.0.0.1:{port} (transaction mode)", flush=True)
            return subprocess.run(command, env=environment, check=False).returncode
        finally:
            bouncer.terminate()
            try:
                bouncer.wait(timeout=15)
            except subprocess.TimeoutExpired:
                bouncer.kill()
                bouncer.wait()


if __name__ == "__main__":
    sys.exit(main())
