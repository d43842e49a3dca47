"""Scale benchmark of ``import_contacts`` and ``reconcile`` on PostgreSQL (make bench-reconcile).

Creates its own database, generates an order history of about N contacts shaped like a shop's
(mostly one-order customers, some customers with 2-50 orders under several emails and phones, a few
clusters of 10,000, some orders that bridge two customers), then times, each as its own process:

1. ``import_contacts FILE --write --allow-large-clusters`` into the empty database (its clusters of
   10,000 are past ``IDENTITY_MAX_CLUSTER_SIZE``);
2. ``reconcile --check`` (must find nothing);
3. ``reconcile`` with nothing to fix (must write nothing);
4. ``reconcile`` after corrupting some clusters (chains, demoted primaries), then ``--check``.

Prints rows/s and the peak memory (maximum resident set size) of each step, then drops the
database. Usage: ``python bench/reconcile.py --contacts 1000000 --database-url postgres://…``.
"""

import argparse
import csv
import os
import random
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
STEP_TIMEOUT_SECONDS = 900
START = datetime(2023, 1, 1, tzinfo=UTC)
SPAN_SECONDS = 3 * 365 * 24 * 3600


@dataclass(frozen=True)
class Step:
    name: str
    seconds: float
    peak_mib: float
    output: str


def generate(*, contacts: int, seed: int, path: Path) -> tuple[int, int]:
    """Write a CSV of orders that create about ``contacts`` contacts; returns (rows, bridges).

    Cluster sizes: three of 10,000 (when there is room), 15% of the contacts in clusters of 2-50,
    the rest singletons. Each order of a cluster shares an email or a phone number with an earlier
    one and brings one new identifier; one order in a thousand bridges two customers.
    """
    rng = random.Random(seed)
    sizes = [10_000] * 3 if contacts >= 300_000 else []
    grouped = int(contacts * 0.15)
    while grouped > 0:
        size = min(rng.randint(2, 50), grouped)
        sizes.append(size)
        grouped -= size
    sizes += [1] * max(0, contacts - sum(sizes))
    rows: list[tuple[str, str, datetime]] = []
    clusters: list[tuple[str, str, datetime]] = []
    for number, size in enumerate(sizes):
        born = START + timedelta(seconds=rng.randrange(SPAN_SECONDS))
        emails, phones = [f"c{number}.0@example.com"], [f"+1{number:09d}0"]
        rows.append((emails[0], phones[0], born))
        for index in range(1, size):
            born += timedelta(seconds=rng.randint(1, 86_400))
            if rng.random() < 0.5:
                emails.append(f"c{number}.{index}@example.com")
                rows.append((emails[-1], rng.choice(phones), born))
            else:
                phones.append(f"+1{number:09d}{index}")
                rows.append((rng.choice(emails), phones[-1], born))
        clusters.append((emails[0], phones[-1], born))
    bridges = len(sizes) // 1000
    for _ in range(bridges):
        (email, _, first), (_, phone, second) = rng.sample(clusters, 2)
        rows.append((email, phone, max(first, second) + timedelta(seconds=1)))
    rng.shuffle(rows)
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["email", "phoneNumber", "createdAt"])
        writer.writerows((email, phone, born.isoformat()) for email, phone, born in rows)
    return len(rows), bridges


def run(name: str, *args: str, env: dict, expect: tuple[int, ...] = (0,)) -> Step:
    """Run ``manage.py`` with ``args`` in a child process; its time and peak memory."""
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as output:
        child = subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = started + STEP_TIMEOUT_SECONDS
        while (waited := os.wait4(child.pid, os.WNOHANG))[0] == 0:
            if time.monotonic() > deadline:
                child.kill()
                raise SystemExit(f"{name}: over {STEP_TIMEOUT_SECONDS} s, stopped")
            time.sleep(0.05)
        child.returncode = os.waitstatus_to_exitcode(waited[1])
        seconds = time.monotonic() - started
        output.seek(0)
        text = output.read()
    if child.returncode not in expect:
        raise SystemExit(f"{name} exited {child.returncode}:\n{text[-3000:]}")
    return Step(name=name, seconds=seconds, peak_mib=waited[2].ru_maxrss / 1024, output=text)


def operator_environment(*, url: str) -> dict[str, str]:
    """Production settings, as an operator runs the commands: DEBUG off, the default timeouts."""
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
    }


@contextmanager
def scratch_database(*, url: str) -> Iterator[Path]:
    """The database of ``url`` made anew (dropped first if it is there, dropped again at the end,
    whoever is still connected) and a scratch directory for the benchmark's files."""
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    admin_url = psycopg.conninfo.make_conninfo(url, dbname="postgres")
    with (
        tempfile.TemporaryDirectory() as scratch,
        psycopg.connect(admin_url, autocommit=True) as admin,
    ):
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield Path(scratch)
        finally:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def fingerprint(url: str) -> tuple:
    """Counts and latest change of contacts, link records and history: equal if nothing wrote."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            """
            SELECT (SELECT count(*) FROM contacts_contact),
                   (SELECT max(updated_at) FROM contacts_contact),
                   (SELECT count(*) FROM contacts_identitylink),
                   (SELECT count(*) FROM contacts_clusterevent)
            """
        ).fetchone()


def corrupt(*, url: str, clusters: int, seed: int) -> int:
    """Break ``clusters`` clusters: half get a chain, half a demoted primary. Returns rows hit."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT setseed(%s)", [seed / 1000])
        chained = conn.execute(
            """
            UPDATE contacts_contact AS c SET linked_id = pick.sibling
            FROM (
                SELECT DISTINCT ON (linked_id) id, linked_id,
                       lead(id) OVER (PARTITION BY linked_id ORDER BY id) AS sibling
                FROM contacts_contact WHERE linked_id IS NOT NULL
                ORDER BY linked_id, random()
            ) AS pick
            WHERE c.id = pick.id AND pick.sibling IS NOT NULL
              AND c.linked_id IN (
                  SELECT linked_id FROM contacts_contact WHERE linked_id IS NOT NULL
                  GROUP BY linked_id HAVING count(*) > 2 ORDER BY random() LIMIT %s)
            """,
            [clusters // 2],
        ).rowcount
        demoted = conn.execute(
            """
            UPDATE contacts_contact AS c
            SET linked_id = pick.newest, link_precedence = 'secondary'
            FROM (
                SELECT linked_id AS primary_id, max(id) AS newest FROM contacts_contact
                WHERE linked_id IS NOT NULL GROUP BY linked_id ORDER BY random() LIMIT %s
            ) AS pick
            WHERE c.id = pick.primary_id
            """,
            [clusters - clusters // 2],
        ).rowcount
    return chained + demoted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--corrupt", type=int, default=1000, help="clusters to break in step 4")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench"),
        help="the database to create, use and drop (BENCH_DATABASE_URL)",
    )
    options = parser.parse_args()
    url = options.database_url
    env = operator_environment(url=url)
    with scratch_database(url=url) as scratch:
        path = scratch / "orders.csv"
        started = time.monotonic()
        rows, bridges = generate(contacts=options.contacts, seed=options.seed, path=path)
        print(f"generated {rows} orders ({bridges} bridges) in {time.monotonic() - started:.1f} s")
        run("migrate", "migrate", "--noinput", "-v0", env=env)
        steps = [
            run(
                "import",
                "import_contacts",
                str(path),
                "--write",
                "--allow-large-clusters",
                "--no-progress",
                env=env,
            )
        ]
        contacts = fingerprint(url)[0]
        steps.append(run("check", "reconcile", "--check", "--no-progress", env=env))
        before = fingerprint(url)
        steps.append(run("rebuild, nothing to fix", "reconcile", "--no-progress", env=env))
        if fingerprint(url) != before:
            raise SystemExit("a rebuild with nothing to fix wrote something")
        hit = corrupt(url=url, clusters=options.corrupt, seed=options.seed)
        steps.append(run(f"rebuild, {hit} rows broken", "reconcile", "--no-progress", env=env))
        steps.append(run("check after repair", "reconcile", "--check", "--no-progress", env=env))
    print(f"{contacts} contacts; rows/s counts file rows for the import, contacts after it")
    print(f"{'step':<28} {'seconds':>8} {'rows/s':>10} {'peak MiB':>9}  summary")
    for step in steps:
        count = rows if step is steps[0] else contacts
        summary = step.output.strip().splitlines()[-1]
        print(
            f"{step.name:<28} {step.seconds:8.1f} {count / step.seconds:10.0f} "
            f"{step.peak_mib:9.0f}  {summary}"
        )


if __name__ == "__main__":
    main()
