"""Run a command beside a throwaway streaming replica: a PostgreSQL primary and its standby of their
own (make test-replica).

``initdb`` makes a primary on a spare loopback port, ``pg_basebackup --write-recovery-conf`` copies
it into a hot standby on another, streaming from it; both are stopped and removed afterwards. The
machine's own PostgreSQL is not touched. The command gets:

- ``STREAMING_PRIMARY_URL`` and ``STREAMING_STANDBY_URL``: each server's ``postgres`` database;
- ``STREAMING_STANDBY_CTL``: a script running ``pg_ctl`` on the standby (``stop``, ``start``), so
  that a test can take it away and bring it back.

Usage: ``python .ci/replica.py -- pytest -m replica …``; exits with the command's status.
"""

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pgbouncer import spare_port  # .ci/pgbouncer.py, beside this script


def postgres_bin() -> Path:
    """The newest installed PostgreSQL's programs: Debian keeps them off PATH, in one directory."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda path: int(path.parts[-2])
    )
    if versions:
        return versions[-1]
    if found := shutil.which("pg_basebackup"):
        return Path(found).parent
    raise SystemExit("PostgreSQL's server programs (initdb, pg_ctl, pg_basebackup) are missing")


def as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its programs as the ``postgres`` user then."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def server_options(*, port: int, sockets: Path) -> str:
    return " ".join(
        [
            "-c listen_addresses=127.0.0.1",
            f"-c port={port}",
            f"-c unix_socket_directories={sockets}",
            "-c wal_level=replica",
            "-c max_wal_senders=4",
            "-c fsync=off",
            "-c hot_standby=on",
            "-c max_connections=60",
        ]
    )


def pg_ctl(*, bin_dir: Path, data: Path, port: int, sockets: Path, log: Path) -> list[str]:
    return as_postgres(
        [
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-w",
            "-o",
            server_options(port=port, sockets=sockets),
        ]
    )


def wait_for_standby(*, url: str, seconds: float = 30) -> None:
    """Until the standby answers as one (it accepts connections once it is consistent)."""
    import psycopg

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(url, connect_timeout=2) as connection:
                if connection.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                    return
        except psycopg.OperationalError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the standby at {url} did not come up within {seconds} s")


def main() -> int:
    command = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else []
    if not command:
        raise SystemExit(__doc__)
    bin_dir = postgres_bin()
    primary_port, standby_port = spare_port(), spare_port()
    with tempfile.TemporaryDirectory(prefix="replica-") as scratch:
        directory = Path(scratch)
        directory.chmod(0o777)
        primary, standby = directory / "primary", directory / "standby"
        log = directory / "postgres.log"
        primary_ctl = pg_ctl(
            bin_dir=bin_dir, data=primary, port=primary_port, sockets=directory, log=log
        )
        standby_ctl = pg_ctl(
            bin_dir=bin_dir, data=standby, port=standby_port, sockets=directory, log=log
        )
        subprocess.run(
            as_postgres(
                [str(bin_dir / "initdb"), "-D", str(primary), "-U", "postgres", "--auth=trust"]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        subprocess.run([*primary_ctl, "start"], check=True, stdout=subprocess.DEVNULL)
        started = [primary_ctl]
        try:
            subprocess.run(
                as_postgres(
                    [
                        str(bin_dir / "pg_basebackup"),
                        "--host=127.0.0.1",
                        f"--port={primary_port}",
                        "--username=postgres",
                        f"--pgdata={standby}",
                        "--wal-method=stream",
                        "--write-recovery-conf",
                    ]
                ),
                check=True,
            )
            subprocess.run([*standby_ctl, "start"], check=True, stdout=subprocess.DEVNULL)
            started.append(standby_ctl)
            standby_url = f"postgres://postgres@127.0.0.1:{standby_port}/postgres"
            wait_for_standby(url=standby_url)
            control = directory / "standby_ctl"
            control.write_text(f'#!/bin/sh\nexec {shlex.join(standby_ctl)} "$@"\n')
            control.chmod(0o755)
            environment = {
                **os.environ,
                "STREAMING_PRIMARY_URL": f"postgres://postgres@127.0.0.1:{primary_port}/postgres",
                "STREAMING_STANDBY_URL": standby_url,
                "STREAMING_STANDBY_CTL": str(control),
            }
            print(
                f"== streaming replica: primary 127.0.0.1:{primary_port}, "
                f"standby 127.0.0.1:{standby_port}",
                flush=True,
            )
            return subprocess.run(command, env=environment, check=False).returncode
        finally:
            for ctl in reversed(started):
                subprocess.run(
                    [*ctl, "stop", "-m", "immediate"],
                    check=False,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )


if __name__ == "__main__":
    sys.exit(main())
