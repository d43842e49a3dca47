"""Throughput of identity events on PostgreSQL (make bench-events): sequencing and webhook delivery.

Creates its own database, imports N new customers (N history rows, so N ``identity.created``
events), registers a webhook endpoint with ``manage.py webhooks add`` pointing at a receiver in
this process (a threaded HTTP server on 127.0.0.1 that answers 204 and verifies signatures with
the reference library), then times, each as its own process with the default settings:

1. sequencing: the history becomes N events and N deliveries (``events_sequence``);
2. ``deliver_events --once``: every delivery sent and recorded.

Checks that the receiver got every event exactly once, signed, then drops the database. Usage:
``python -m bench.events --events 20000 --database-url postgres://…``.
"""

import argparse
import csv
import os
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from standardwebhooks import Webhook

from bench.reconcile import operator_environment, run, scratch_database

VERIFIED_SAMPLE = 200
"""Deliveries whose signature the receiver verifies: enough to prove them, few enough not to
slow the receiver down."""


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.ids: Counter[str] = Counter()
        self.secret = ""
        self.verified = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        headers = {name.lower(): value for name, value in self.headers.items()}
        with self.server.lock:
            self.server.ids[headers["webhook-id"]] += 1
            verify = self.server.verified < VERIFIED_SAMPLE
        if verify:
            Webhook(self.server.secret).verify(body, headers)
            with self.server.lock:
                self.server.verified += 1
        self.send_response(204)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def customers_csv(*, count: int, path: Path) -> None:
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["email", "phoneNumber"])
        writer.writerows((f"b{index}@example.com", f"+1{index:010d}") for index in range(count))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_events"
        ),
        help="the database to create, use and drop",
    )
    options = parser.parse_args()
    env = operator_environment(url=options.database_url)
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        with scratch_database(url=options.database_url) as scratch:
            path = scratch / "customers.csv"
            customers_csv(count=options.events, path=path)
            run("migrate", "migrate", "--noinput", "-v0", env=env)
            run("import", "import_contacts", str(path), "--write", "--no-progress", env=env)
            added = run("webhooks add", "webhooks", "add", receiver.url, env=env)
            receiver.secret = next(
                line for line in added.output.split() if line.startswith("whsec_")
            )
            sequenced = run(
                "sequence",
                "shell",
                "-c",
                "from contacts.services.events import events_sequence; print(events_sequence())",
                env=env,
            )
            started = time.monotonic()
            delivered = run("deliver_events --once", "deliver_events", "--once", env=env)
            seconds = time.monotonic() - started
    finally:
        receiver.shutdown()
    count = options.events
    made = int(sequenced.output.split()[-1])
    if made != count or len(receiver.ids) != count or set(receiver.ids.values()) != {1}:
        raise SystemExit(
            f"expected {count} events once each: sequenced {made}, received "
            f"{len(receiver.ids)} ids, {sum(receiver.ids.values())} deliveries\n{delivered.output}"
        )
    print(f"events: {count}, signatures verified: {receiver.verified}")
    print(f"sequencing: {sequenced.seconds:.1f} s, {count / sequenced.seconds:,.0f} events/s")
    print(f"delivery:   {seconds:.1f} s, {count / seconds:,.0f} deliveries/s")


if __name__ == "__main__":
    main()
