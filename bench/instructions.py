"""Instructions per ``POST /identify/`` request, counted by callgrind (make bench-instructions).

A load test's req/s and CPU per request on these machines vary by half from one hour to the next
(bench/RESULTS.md); the instructions a request executes do not. This seeds a database once,
copies it, and runs ``make bench``'s mix through Django's WSGI handler in one process (no
gunicorn, no wrk; an API key and the default rate limit, as deployed) under valgrind's callgrind
with instrumentation off. After the warm-up requests it switches instrumentation on
(``callgrind_control -i on``), runs the measured requests and reports the instructions per
request. The same seed and mix in two clones compare two commits on the same work.

Usage: ``python -m bench.instructions --database postgres://…/bench_instructions``; the database
(its name must contain ``bench``) and its copy are dropped and created again.
"""

import argparse
import io
import json
import os
import random
import re
import subprocess
import sys
from collections import Counter
from itertools import islice

import psycopg
from psycopg import sql

from bench.paths import OUT
from bench.server import app_environment, recreate_database, setup_django

CALLGRIND_LOG = OUT / "callgrind.log"
CALLGRIND_OUT = OUT / "callgrind.out"
APP_LOG = OUT / "instructions-app.log"
READY, GO = "ready", "go"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True)
    parser.add_argument("--clusters", type=int, default=5000, help="seeded clusters")
    parser.add_argument("--requests", type=int, default=300, help="requests counted")
    parser.add_argument("--warmup", type=int, default=20, help="requests before counting")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args()


def copy_url(url: str) -> str:
    return f"{url}_copy"


def prepare(args: argparse.Namespace) -> str:
    """Migrate and seed ``--database``, copy it for the run, and return an API key of it."""
    recreate_database(args.database)
    setup_django(app_environment(database=args.database))
    from django.core.management import call_command
    from django.db import connection

    from bench.dataset import seed
    from contacts.models import Scope
    from contacts.services.api_keys import api_key_create

    call_command("migrate", verbosity=0)
    key = api_key_create(name="make bench-instructions", scopes=[Scope.IDENTIFY])[1]
    seed(clusters=args.clusters)
    connection.close()
    source = psycopg.conninfo.conninfo_to_dict(args.database)["dbname"]
    copy = psycopg.conninfo.conninfo_to_dict(copy_url(args.database))["dbname"]
    maintenance = psycopg.conninfo.make_conninfo(args.database, dbname="postgres")
    with psycopg.connect(maintenance, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(copy))
        )
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(copy), sql.Identifier(source)
            )
        )
    return key


def count(args: argparse.Namespace, *, key: str) -> tuple[int, dict[str, int]]:
    """Run ``--serve`` under callgrind; return the instructions it counted and the statuses."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={CALLGRIND_OUT}",
        f"--log-file={CALLGRIND_LOG}",
        sys.executable,
        "-m",
        "bench.instructions",
        "--serve",
        f"--database={copy_url(args.database)}",
        f"--clusters={args.clusters}",
        f"--requests={args.requests}",
        f"--warmup={args.warmup}",
    ]
    env = {**app_environment(database=copy_url(args.database)), "BENCH_API_KEY": key}
    with APP_LOG.open("w") as app_log:
        child = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=app_log,
            text=True,
            env=env,
        )
        if child.stdout.readline().strip() != READY:
            child.wait()
            raise SystemExit(f"the measured process stopped before its requests: see {APP_LOG}")
        subprocess.run(
            ["callgrind_control", "-i", "on", str(child.pid)], check=True, capture_output=True
        )
        child.stdin.write(f"{GO}\n")
        child.stdin.flush()
        statuses = json.loads(child.stdout.readline())
        if child.wait() != 0:
            raise SystemExit(f"the measured process failed: see {APP_LOG}")
    collected = re.search(r"Collected : (\d+)", CALLGRIND_LOG.read_text())
    if collected is None:
        raise SystemExit(f"callgrind counted nothing: see {CALLGRIND_LOG}")
    return int(collected.group(1)), statuses


def serve(args: argparse.Namespace) -> None:
    """The measured process, in the environment ``count`` gave it: warm up, say so, wait for
    instrumentation, send the requests."""
    setup_django({})
    from django.core.wsgi import get_wsgi_application

    from bench.dataset import request_mix

    application = get_wsgi_application()
    mix = request_mix(clusters=args.clusters, tag=7, rng=random.Random(9))
    bodies = [request.json().encode() for request in islice(mix, args.warmup + args.requests)]
    authorization = f"Api-Key {os.environ['BENCH_API_KEY']}"
    statuses: Counter[str] = Counter()

    def post(body: bytes) -> str:
        answered = []
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/identify/",
            "SCRIPT_NAME": "",
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_AUTHORIZATION": authorization,
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
            "wsgi.version": (1, 0),
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        response = application(environ, lambda status, headers: answered.append(status))
        b"".join(response)
        response.close()
        return answered[0]

    for body in bodies[: args.warmup]:
        post(body)
    print(READY, flush=True)
    if sys.stdin.readline().strip() != GO:
        raise SystemExit("not told to go")
    for body in bodies[args.warmup :]:
        statuses[post(body)] += 1
    print(json.dumps(statuses), flush=True)


def main() -> None:
    args = parse_args()
    if args.serve:
        serve(args)
        return
    OUT.mkdir(exist_ok=True)
    key = prepare(args)
    instructions, statuses = count(args, key=key)
    per_request = instructions / args.requests
    print(
        f"{per_request / 1e6:.3f} M instructions per /identify/ request "
        f"({args.requests} requests of the mix after {args.warmup}, {args.clusters} seeded "
        f"clusters; answers {dict(statuses)}); callgrind's file: {CALLGRIND_OUT}"
    )
    if set(statuses) != {"200 OK"}:
        raise SystemExit("some requests were not answered 200")


if __name__ == "__main__":
    main()
