"""``make bench``: seed PostgreSQL, serve with gunicorn, drive ``POST /identify/`` with wrk, report.

Every phase is bounded in time and sends traffic to 127.0.0.1 only; everything this script starts
it stops. The database named by ``--database`` is dropped and created again, so its name must
contain ``bench``. Results are printed as a table and written to ``bench/out/results.json``.
"""

import argparse
import json
import os
import random
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
LUA = ROOT / "bench" / "identify.lua"
SERVER_LOG = OUT / "server.log"
EMPTY_SERVER_LOG = OUT / "server-empty-db.log"
WRK_THREADS = 2
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


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
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--max-rate", type=int, default=4000, help="bodies generated per second")
    return parser.parse_args()


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


def server_environment(args: argparse.Namespace) -> dict[str, str]:
    """Production settings: DEBUG off, the default persistent connections, one JSON log line per
    request (written to ``SERVER_LOG``), gunicorn as ``gunicorn.conf.py`` configures it."""
    return {
        **os.environ,
        "DATABASE_URL": args.database,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "INFO",
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


# --- Processes and CPU ----------------------------------------------------------------------------


def stat_fields(pid: int) -> list[str]:
    """``/proc/<pid>/stat`` from its third field (the state) on; empty once the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return []


def cpu_seconds(pid: int) -> float:
    fields = stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS if fields else 0.0


def reaped_cpu_seconds(pid: int) -> float:
    """CPU of the children ``pid`` has waited for: the postmaster's exited backends."""
    fields = stat_fields(pid)
    return (int(fields[13]) + int(fields[14])) / CLOCK_TICKS if fields else 0.0


def postmaster_pid(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as connection:
        (backend,) = connection.execute("SELECT pg_backend_pid()").fetchone()
        return int(stat_fields(backend)[1])


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            pids.extend(process_tree(int(child)))
    return pids


def postgres_backends(url: str) -> list[int]:
    dbname = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(url, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [dbname],
        ).fetchall()
    return [pid for (pid,) in rows]


@dataclass
class CpuMeter:
    """CPU seconds used by the app server's processes and the database's backends over a phase.

    A backend that exits during the phase (a connection replaced) is no longer in ``/proc``: the
    postmaster reaps it and adds its CPU to its children's total, whose growth is counted, less
    what those backends had used before the phase.
    """

    server_pid: int
    database: str
    start: dict[str, dict[int, float]] = field(default_factory=dict)
    reaped_at_start: float = 0.0

    def __post_init__(self) -> None:
        self.postmaster = postmaster_pid(self.database)

    def sample(self) -> dict[str, dict[int, float]]:
        return {
            "app": {pid: cpu_seconds(pid) for pid in process_tree(self.server_pid)},
            "postgres": {pid: cpu_seconds(pid) for pid in postgres_backends(self.database)},
        }

    def reset(self) -> None:
        self.start = self.sample()
        self.reaped_at_start = reaped_cpu_seconds(self.postmaster)

    def used(self) -> dict[str, float]:
        """CPU seconds per group since ``reset``; processes that started since count from zero."""
        end = self.sample()
        used = {
            group: sum(seconds - self.start[group].get(pid, 0.0) for pid, seconds in pids.items())
            for group, pids in end.items()
        }
        exited = [pid for pid in self.start["postgres"] if pid not in end["postgres"]]
        used["postgres"] += (
            reaped_cpu_seconds(self.postmaster)
            - self.reaped_at_start
            - sum(self.start["postgres"][pid] for pid in exited)
        )
        return used


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


# --- Phases ---------------------------------------------------------------------------------------


def write_bodies(name: str, requests, count: int) -> Path:
    path = OUT / f"{name}.jsonl"
    with path.open("w") as bodies:
        for _, request in zip(range(count), requests, strict=False):
            bodies.write(request.json() + "\n")
    return path


@dataclass
class Phase:
    name: str
    concurrency: int
    duration: int
    requests_per_second: float = 0.0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0
    wrk_cpu_percent: float = 0.0
    app_cpu_ms_per_request: float = 0.0
    postgres_cpu_ms_per_request: float = 0.0


def run_wrk(*, phase: Phase, bodies: Path, port: int, meter: CpuMeter) -> Phase:
    threads = min(WRK_THREADS, phase.concurrency)
    command = [
        shutil.which("wrk") or "wrk",
        f"--threads={threads}",
        f"--connections={phase.concurrency}",
        f"--duration={phase.duration}s",
        "--timeout=5s",
        f"--script={LUA}",
        f"http://127.0.0.1:{port}",
        "--",
        str(bodies),
        str(threads),
    ]
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    meter.reset()
    wrk = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    used = meter.used()
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    output = wrk.stdout
    lines = [line for line in output.splitlines() if line.startswith("BENCH ")]
    if wrk.returncode != 0 or not lines:
        raise SystemExit(f"wrk failed ({wrk.returncode}):\n{output}")
    summary = json.loads(lines[-1].removeprefix("BENCH "))
    seconds = summary["duration_us"] / 1e6
    requests = max(summary["requests"], 1)
    phase.requests_per_second = summary["requests"] / seconds
    phase.p50_ms, phase.p95_ms, phase.p99_ms = (summary[f"p{p}_us"] / 1000 for p in (50, 95, 99))
    phase.errors = sum(
        summary[key]
        for key in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    wrk_cpu = (children_after.ru_utime - children_before.ru_utime) + (
        children_after.ru_stime - children_before.ru_stime
    )
    phase.wrk_cpu_percent = 100 * wrk_cpu / seconds
    phase.app_cpu_ms_per_request = 1000 * used["app"] / requests
    phase.postgres_cpu_ms_per_request = 1000 * used["postgres"] / requests
    return phase


# --- The freshly migrated database ---------------------------------------------------------------

# The tables of /identify/. Autovacuum leaves them alone during the empty-database phase, so that
# the phase runs as a new deployment's first minute does: before any ANALYZE.
SERVICE_TABLES = ("contacts_contact", "contacts_identitylink", "contacts_clusterevent")
EMPTY_PHASE = "mix, empty db"


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


def empty_database_phase(args: argparse.Namespace, environment: dict[str, str]) -> Phase:
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
        run_wrk(phase=phase, bodies=bodies, port=args.port, meter=meter)
    finally:
        stop_server(server)
        set_autovacuum(url=args.database, enabled=True)
    if analyzed := autoanalyzed_tables(args.database):
        raise SystemExit(f"autovacuum analyzed {analyzed} during the empty-database phase")
    return phase


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
        f"WEB_CONCURRENCY={args.workers} GUNICORN_THREADS={args.threads}; log lines in "
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


def main() -> None:
    from bench.dataset import SIZED_CLUSTER_SIZES, request_mix, seed, sized_lookups

    args = parse_args()
    OUT.mkdir(exist_ok=True)
    environment = server_environment(args)
    recreate_database(args.database)
    setup_django(environment)
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    connection.close()
    phases = [empty_database_phase(args, environment)] if args.empty_duration else []

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

    server = start_server(args, environment)
    try:
        meter = CpuMeter(server_pid=server.pid, database=args.database)
        for phase, bodies in plan:
            print(f"{phase.name} at c={phase.concurrency} for {phase.duration} s", flush=True)
            measured = run_wrk(phase=phase, bodies=bodies, port=args.port, meter=meter)
            if phase.name != "warm-up":
                phases.append(measured)
    finally:
        stop_server(server)

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
