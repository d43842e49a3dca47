"""``make bench``: seed PostgreSQL, serve with gunicorn, drive ``POST /identify/`` with wrk, report.

Every phase is bounded in time and sends traffic to 127.0.0.1 only; everything this script starts
it stops. The database named by ``--database`` is dropped and created again, so its name must
contain ``bench``. Results are printed as a table and written to ``bench/out/results.json``.
"""

import argparse
import io
import json
import random
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

import psycopg
from psycopg import sql

from bench.cpu import CpuMeter
from bench.events import Receiver
from bench.load import EMPTY_PHASE, SHOPS, WRK_THREADS, Phase, run_wrk, write_bodies
from bench.paths import OUT, ROOT
from bench.report import integrity_problems, machine, print_report, replay
from bench.server import (
    EMPTY_SERVER_LOG,
    SERVER_LOG,
    recreate_database,
    server_environment,
    setup_django,
    start_server,
    stop_server,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/bitespeed_bench")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--clusters", type=int, default=50_000, help="seeded clusters of the mix")
    parser.add_argument("--duration", type=int, default=25, help="seconds per mix phase")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--size-duration", type=int, default=10, help="seconds per cluster size")
    parser.add_argument("--size-concurrency", type=int, default=1, help="1: latency of one lookup")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of warm-up traffic")
    parser.add_argument(
        "--empty-duration",
        type=int,
        default=25,
        help="seconds of the mix on the freshly migrated, empty database (0: skip that phase)",
    )
    parser.add_argument("--replay", type=int, default=2000, help="requests replayed in-process")
    # gunicorn.conf.py's defaults, the best measured here (bench/RESULTS.md).
    parser.add_argument("--worker-class", default="gthread", choices=["gthread", "sync"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--max-rate", type=int, default=4000, help="bodies generated per second")
    parser.add_argument(
        "--api-keys",
        choices=["required", "off"],
        default="required",
        help="API_KEYS_REQUIRED of the server (default: required, as deployed; wrk sends a key)",
    )
    parser.add_argument(
        "--webhooks",
        action="store_true",
        help="register a webhook endpoint (a receiver in this process) and run deliver_events "
        "beside the server, as a deployment with webhooks does",
    )
    return parser.parse_args()


# --- The freshly migrated database ---------------------------------------------------------------

# The tables of /identify/. Autovacuum leaves them alone during the empty-database phase, so that
# the phase runs as a new deployment's first minute does: before any ANALYZE.
SERVICE_TABLES = ("contacts_contact", "contacts_identitylink", "contacts_clusterevent")


def set_autovacuum(*, url: str, enabled: bool) -> None:
    statement = (
        "ALTER TABLE {} RESET (autovacuum_enabled)"
        if enabled
        else ("ALTER TABLE {} SET (autovacuum_enabled = false)")
    )
    with psycopg.connect(url, autocommit=True) as connection:
        for table in SERVICE_TABLES:
            connection.execute(sql.SQL(statement).format(sql.Identifier(table)))


def autoanalyzed_tables(url: str) -> list[str]:
    """The service's tables that autovacuum has analyzed (an ANALYZE the service runs is its own
    doing, part of what the phase measures)."""
    with psycopg.connect(url, autocommit=True) as connection:
        rows = connection.execute(
            """
            SELECT relname FROM pg_stat_user_tables
            WHERE relname = ANY(%s) AND last_autoanalyze IS NOT NULL
            """,
            [list(SERVICE_TABLES)],
        ).fetchall()
    return [name for (name,) in rows]


def empty_database_phase(
    args: argparse.Namespace, environment: dict[str, str], *, api_keys: list[str]
) -> Phase:
    """The mix at the highest concurrency on the database ``migrate`` just made: no warm-up, no
    seed, no statistics; the mix fills the tables itself (``dataset.growing_mix``)."""
    from bench.dataset import growing_mix

    concurrency = max(args.concurrency)
    mix = growing_mix(tag=0, streams=min(WRK_THREADS, concurrency), rng=random.Random(5))
    bodies = write_bodies("mix-empty", mix, args.max_rate * args.empty_duration)
    phase = Phase(EMPTY_PHASE, concurrency, args.empty_duration)
    set_autovacuum(url=args.database, enabled=False)
    server = start_server(args, environment, log_path=EMPTY_SERVER_LOG)
    try:
        print(f"{phase.name} at c={concurrency} for {phase.duration} s", flush=True)
        meter = CpuMeter(server_pid=server.pid, database=args.database)
        run_wrk(phase=phase, bodies=bodies, port=args.port, meter=meter, api_keys=api_keys)
    finally:
        stop_server(server)
        set_autovacuum(url=args.database, enabled=True)
    if analyzed := autoanalyzed_tables(args.database):
        raise SystemExit(f"autovacuum analyzed {analyzed} during the empty-database phase")
    return phase


def bench_api_keys() -> list[str]:
    """One key with the identify scope per shop, as each shop's backend has; wrk sends them in
    turn (none with ``--api-keys off``). Many shops share the service: one shop alone at the
    benchmark's rate would be held to the default per-key rate limit (bitespeed/settings/api.py)."""
    from contacts.models import Scope
    from contacts.services.api_keys import api_key_create

    return [
        api_key_create(name=f"make bench shop {shop}", scopes=[Scope.IDENTIFY])[1]
        for shop in range(SHOPS)
    ]


WORKER_LOG = OUT / "worker.log"


def start_receiver() -> Receiver:
    """A receiver of webhooks in this process, registered as the service's one endpoint."""
    from contacts.services.webhooks import webhook_endpoint_create

    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    receiver.secret = webhook_endpoint_create(url=receiver.url, event_types=[]).secret
    return receiver


def start_worker(environment: dict[str, str]) -> subprocess.Popen:
    with WORKER_LOG.open("w") as log:
        return subprocess.Popen(
            [sys.executable, "manage.py", "deliver_events"],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )


def report_deliveries(receiver: Receiver) -> None:
    from contacts.models import DeliveryStatus, WebhookDelivery

    receiver.shutdown()
    pending = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).count()
    print(
        f"webhooks: {sum(receiver.ids.values())} deliveries received "
        f"({len(receiver.ids)} events, {receiver.verified} signatures verified), "
        f"{pending} pending when the load stopped"
    )


def main() -> None:
    from bench.dataset import SIZED_CLUSTER_SIZES, request_mix, seed, sized_lookups

    args = parse_args()
    OUT.mkdir(exist_ok=True)
    environment = server_environment(args)
    recreate_database(args.database)
    setup_django(environment)
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    if settings.DATABASE_POOL_MODE == "transaction":
        call_command("database_settings", "--apply", stdout=io.StringIO())
    api_keys = bench_api_keys() if args.api_keys == "required" else []
    connection.close()
    phases = (
        [empty_database_phase(args, environment, api_keys=api_keys)] if args.empty_duration else []
    )

    started = time.monotonic()
    rows = seed(clusters=args.clusters)
    print(f"seeded {rows} contacts in {time.monotonic() - started:.1f} s")
    connection.close()

    rng = random.Random(6)
    plan: list[tuple[Phase, Path]] = []
    count = args.max_rate * args.warmup
    mix = request_mix(clusters=args.clusters, tag=1, rng=rng)
    plan.append((Phase("warm-up", 16, args.warmup), write_bodies("warmup", mix, count)))
    for tag, concurrency in enumerate(args.concurrency, start=2):
        mix = request_mix(clusters=args.clusters, tag=tag, rng=rng)
        bodies = write_bodies(f"mix-c{concurrency}", mix, args.max_rate * args.duration)
        plan.append((Phase("mix", concurrency, args.duration), bodies))
    for size in SIZED_CLUSTER_SIZES:
        bodies = write_bodies(f"size-{size}", sized_lookups(size=size, rng=rng), 20_000)
        plan.append((Phase(f"cluster {size}", args.size_concurrency, args.size_duration), bodies))

    receiver = start_receiver() if args.webhooks else None
    server = start_server(args, environment)
    worker = start_worker(environment) if receiver else None
    try:
        meter = CpuMeter(server_pid=server.pid, database=args.database)
        for phase, bodies in plan:
            print(f"{phase.name} at c={phase.concurrency} for {phase.duration} s", flush=True)
            measured = run_wrk(
                phase=phase, bodies=bodies, port=args.port, meter=meter, api_keys=api_keys
            )
            if phase.name != "warm-up":
                phases.append(measured)
    finally:
        stop_server(server)
        if worker is not None:
            stop_server(worker)
    if receiver is not None:
        report_deliveries(receiver)

    sql_counts = replay(
        requests=request_mix(clusters=args.clusters, tag=99, rng=rng), count=args.replay
    )
    problems = integrity_problems()
    info = machine()
    print_report(args=args, phases=phases, sql_counts=sql_counts, info=info)
    print("\nintegrity: " + ", ".join(f"{count} {name}" for name, count in problems.items()))
    results = {
        "machine": info,
        "server": {
            "worker_class": args.worker_class,
            "workers": args.workers,
            "threads": args.threads,
        },
        "phases": [asdict(phase) for phase in phases],
        "sql_per_request": sql_counts,
        "integrity_problems": problems,
    }
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    if any(problems.values()):
        raise SystemExit("the data broke an invariant under load")
    if failed := [phase.name for phase in phases if phase.errors]:
        raise SystemExit(f"requests failed in {', '.join(failed)}: see {SERVER_LOG.parent}")


if __name__ == "__main__":
    main()
