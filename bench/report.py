"""After the load: SQL per request from an in-process replay, the integrity checks of SPEC §2, and
the printed report."""

import argparse
import os
import subprocess
import time

from bench.load import EMPTY_PHASE, SHOPS, WRK_THREADS, Phase
from bench.paths import OUT, ROOT
from bench.server import SERVER_LOG

# --- SQL round trips per request, by outcome ------------------------------------------------------


def replay(*, requests, count: int) -> dict[str, dict[str, float]]:
    """Run ``count`` requests of the mix in this process and count their SQL by outcome.

    The requests go through the view's serializer and service, between the connection handling that
    Django does at the start and end of every request (so a health check, when enabled, is counted).
    ``statements`` counts what Django's cursors execute; ``round_trips`` counts every message that
    waits for PostgreSQL's answer (simple ``Query`` or extended-protocol ``Sync``) in libpq's trace
    of the connection, so ``BEGIN``, ``COMMIT`` and health checks are included.
    """
    from django.db import close_old_connections, connection
    from psycopg import pq

    from contacts.serializers import IdentifyRequestSerializer
    from contacts.services.identify import contact_identify

    statements = 0

    def count_statement(execute, sql, params, many, context):
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    totals: dict[str, dict[str, float]] = {}
    trace_path = OUT / "replay.trace"
    with (
        trace_path.open("w") as trace,
        trace_path.open() as reader,
        connection.execute_wrapper(count_statement),
    ):
        for _, request in zip(range(count), requests, strict=False):
            close_old_connections()
            connection.ensure_connection()
            pgconn = connection.connection.pgconn
            pgconn.trace(trace.fileno())
            pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
            statements = 0
            serializer = IdentifyRequestSerializer(data=request.body)
            serializer.is_valid(raise_exception=True)
            identity = contact_identify(**serializer.validated_data)
            close_old_connections()
            pgconn.untrace()
            messages = [line.rstrip("\n").split("\t") for line in reader.readlines()]
            round_trips = sum(
                1 for fields in messages if fields[0] == "F" and fields[2] in ("Query", "Sync")
            )
            total = totals.setdefault(
                str(identity.outcome), {"requests": 0, "statements": 0, "round_trips": 0}
            )
            total["requests"] += 1
            total["statements"] += statements
            total["round_trips"] += round_trips
    return totals


# --- Integrity after the load ---------------------------------------------------------------------

INTEGRITY_SQL = {
    "secondaries not linked to a live primary": """
        SELECT count(*) FROM contacts_contact AS contact
        LEFT JOIN contacts_contact AS head
               ON head.id = contact.linked_id AND head.deleted_at IS NULL AND head.linked_id IS NULL
        WHERE contact.deleted_at IS NULL AND contact.linked_id IS NOT NULL AND head.id IS NULL
    """,
    "emails in more than one cluster": """
        SELECT count(*) FROM (
            SELECT email FROM contacts_contact WHERE deleted_at IS NULL AND email IS NOT NULL
            GROUP BY email HAVING count(DISTINCT COALESCE(linked_id, id)) > 1
        ) AS split
    """,
    "phone numbers in more than one cluster": """
        SELECT count(*) FROM (
            SELECT phone_number FROM contacts_contact
            WHERE deleted_at IS NULL AND phone_number IS NOT NULL
            GROUP BY phone_number HAVING count(DISTINCT COALESCE(linked_id, id)) > 1
        ) AS split
    """,
}


def integrity_problems() -> dict[str, int]:
    """Counts of broken SPEC §2 invariants after the load; all must be zero."""
    from django.db import connection

    with connection.cursor() as cursor:
        problems = {}
        for name, query in INTEGRITY_SQL.items():
            cursor.execute(query)
            problems[name] = cursor.fetchone()[0]
    return problems


# --- Report ---------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": str(os.cpu_count()),
        "load_average": " ".join(f"{load:.2f}" for load in os.getloadavg()),
        "commit": commit,
    }


def print_report(
    *, args: argparse.Namespace, phases: list[Phase], sql_counts: dict, info: dict
) -> None:
    print(
        f"\n{info['date']}  commit {info['commit']}  {info['cpus']} CPUs  "
        f"load {info['load_average']}"
    )
    print(
        f"gunicorn --config gunicorn.conf.py: GUNICORN_WORKER_CLASS={args.worker_class} "
        f"WEB_CONCURRENCY={args.workers} GUNICORN_THREADS={args.threads} "
        f"API_KEYS_REQUIRED={args.api_keys == 'required'} ({SHOPS} shops' keys in turn); "
        "log lines in "
        f"{SERVER_LOG.relative_to(ROOT)}; wrk {WRK_THREADS} threads\n"
    )
    header = (
        f"{'phase':<14}{'c':>4}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        f"{'errors':>8}{'wrk CPU':>9}{'app ms/req':>12}{'pg ms/req':>11}"
    )
    print(header)
    print("-" * len(header))
    for phase in phases:
        print(
            f"{phase.name:<14}{phase.concurrency:>4}{phase.requests_per_second:>9.0f}"
            f"{phase.p50_ms:>9.1f}{phase.p95_ms:>9.1f}{phase.p99_ms:>9.1f}{phase.errors:>8}"
            f"{phase.wrk_cpu_percent:>8.0f}%{phase.app_cpu_ms_per_request:>12.2f}"
            f"{phase.postgres_cpu_ms_per_request:>11.2f}"
        )
    empty = next((phase for phase in phases if phase.name == EMPTY_PHASE), None)
    seeded = next(
        (p for p in phases if p.name == "mix" and empty and p.concurrency == empty.concurrency),
        None,
    )
    if empty and seeded:
        print(
            f"\nempty database: {empty.requests_per_second / seeded.requests_per_second:.0%} of "
            f"the seeded mix's req/s at c={empty.concurrency}"
        )
    print(f"\n{'outcome':<16}{'requests':>9}{'statements':>12}{'round trips':>13}  (per request)")
    requests = statements = round_trips = 0
    for outcome, total in sorted(sql_counts.items()):
        requests += total["requests"]
        statements += total["statements"]
        round_trips += total["round_trips"]
        print(
            f"{outcome:<16}{total['requests']:>9}{total['statements'] / total['requests']:>12.2f}"
            f"{total['round_trips'] / total['requests']:>13.2f}"
        )
    print(
        f"{'whole mix':<16}{requests:>9}{statements / requests:>12.2f}"
        f"{round_trips / requests:>13.2f}"
    )
