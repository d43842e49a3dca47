"""Slow and idle clients against a running server: do ordinary requests still get answered?

``python -m bench.slow_clients --url http://127.0.0.1:PORT`` measures ordinary requests without an
attack (the baseline), then during three bounded attacks on 127.0.0.1, one after the other, each
for ``--duration`` seconds: sockets that send a request's header section one byte at a time,
sockets that send a whole header section and then trickle its body, and connections that never
send a byte. Every connection the server closes is opened again, so an attack keeps its size for
its whole duration. Meanwhile, ``--requests`` ordinary ``POST /identify/`` calls go out one after
the other, each given ``--timeout`` seconds; the report says how many were answered and how fast,
and how the server ended the attack's connections (bench/RESULTS.md, "Issue 14: slow clients").
"""

import argparse
import json
import selectors
import socket
import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.client import HTTPConnection, HTTPException
from itertools import cycle
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Scenario:
    name: str
    sockets: int
    opening: bytes
    """Sent at once when a connection opens."""
    trickle: bytes
    """Sent one byte per ``interval`` afterwards, over and over (empty: the connection idles)."""
    interval: float = 1.0


@dataclass
class Outcome:
    scenario: Scenario
    latencies: list[float] = field(default_factory=list)
    """Seconds of each ordinary request answered within the timeout."""
    statuses: Counter = field(default_factory=Counter)
    failures: int = 0
    cut: Counter = field(default_factory=Counter)
    """How the server ended the attack's connections: the status line it sent, or ``closed``."""


def scenarios(*, host: str) -> list[Scenario]:
    head = f"POST /identify/ HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
    return [
        Scenario("no attack", 0, b"", b""),
        Scenario("slow headers", 50, head.encode(), b"X-Slow: 1\r\n"),
        Scenario("slow body", 50, (head + "Content-Length: 1000\r\n\r\n").encode(), b" "),
        Scenario("idle connections", 500, b"", b""),
    ]


class Attack(threading.Thread):
    """Keep ``scenario.sockets`` connections open and trickling until ``stop`` is set."""

    def __init__(self, *, scenario: Scenario, address: tuple[str, int], outcome: Outcome) -> None:
        super().__init__(daemon=True)
        self.scenario = scenario
        self.address = address
        self.outcome = outcome
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.selector = selectors.DefaultSelector()

    def open(self) -> None:
        try:
            sock = socket.create_connection(self.address, timeout=5)
        except OSError:
            self.outcome.cut["connect failed"] += 1
            return
        sock.setblocking(False)
        if self.scenario.opening:
            sock.send(self.scenario.opening)
        self.selector.register(sock, selectors.EVENT_READ, cycle(self.scenario.trickle))

    def reopen(self, sock: socket.socket) -> None:
        self.selector.unregister(sock)
        try:
            answer = sock.recv(64)
        except OSError:
            answer = b""
        self.outcome.cut[answer.split(b"\r\n", 1)[0].decode("latin1") or "closed"] += 1
        sock.close()
        self.open()

    def send_next_bytes(self) -> None:
        for key in list(self.selector.get_map().values()):
            try:
                key.fileobj.send(bytes([next(key.data)]))
            except OSError:
                self.reopen(key.fileobj)

    def run(self) -> None:
        for _ in range(self.scenario.sockets):
            self.open()
        self.ready.set()
        next_send = time.monotonic() + self.scenario.interval
        while not self.stop.is_set():
            for key, _ in self.selector.select(timeout=0.1):
                self.reopen(key.fileobj)
            if self.scenario.trickle and time.monotonic() >= next_send:
                self.send_next_bytes()
                next_send += self.scenario.interval
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()
        self.selector.close()


def ordinary_request(*, address: tuple[str, int], index: int, timeout: float, api_key: str) -> int:
    """One ``POST /identify/`` on a new connection; its status."""
    client = HTTPConnection(*address, timeout=timeout)
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Api-Key {api_key}"
    body = json.dumps({"email": f"ordinary{index}@example.com", "phoneNumber": f"77{index:04d}"})
    try:
        client.request("POST", "/identify/", body, headers)
        response = client.getresponse()
        response.read()
        return response.status
    finally:
        client.close()


def run_scenario(*, scenario: Scenario, address: tuple[str, int], args) -> Outcome:
    """The attack, and meanwhile ``args.requests`` ordinary requests spread over its duration."""
    outcome = Outcome(scenario)
    attack = Attack(scenario=scenario, address=address, outcome=outcome)
    started = time.monotonic()
    attack.start()
    attack.ready.wait()
    # Let the attack's first bytes reach the server before the first ordinary request.
    time.sleep(1.0)
    spacing = max(args.duration - 1.0 - args.timeout, 0.0) / args.requests
    for index in range(args.requests):
        time.sleep(max(0.0, started + 1.0 + index * spacing - time.monotonic()))
        sent = time.monotonic()
        try:
            status = ordinary_request(
                address=address, index=index, timeout=args.timeout, api_key=args.api_key
            )
        except (OSError, HTTPException):
            outcome.failures += 1
            continue
        outcome.statuses[status] += 1
        outcome.latencies.append(time.monotonic() - sent)
    time.sleep(max(0.0, started + args.duration - time.monotonic()))
    attack.stop.set()
    attack.join()
    return outcome


def print_report(outcomes: list[Outcome], *, requests: int, timeout: float) -> None:
    print(f"\n{'scenario':<18} {'sockets':>7} {'answered':>10} {'p50 ms':>8} {'max ms':>8}  cut")
    for outcome in outcomes:
        latencies = outcome.latencies
        p50 = f"{statistics.median(latencies) * 1000:.0f}" if latencies else "-"
        slowest = f"{max(latencies) * 1000:.0f}" if latencies else "-"
        answered = f"{len(latencies)}/{requests}"
        print(
            f"{outcome.scenario.name:<18} {outcome.scenario.sockets:>7} {answered:>10} "
            f"{p50:>8} {slowest:>8}  {dict(outcome.cut)} statuses {dict(outcome.statuses)}"
        )
    print(f"(answered: within {timeout:g} s)")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per scenario")
    parser.add_argument("--requests", type=int, default=6, help="ordinary requests per scenario")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds an answer may take")
    parser.add_argument("--api-key", default="", help="sent by the ordinary requests, if given")
    parser.add_argument(
        "--scenario", action="append", help="run only these (by name; default: all)"
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    url = urlsplit(args.url)
    address = (url.hostname, url.port or 80)
    chosen = [
        scenario
        for scenario in scenarios(host=url.hostname)
        if not args.scenario or scenario.name in args.scenario
    ]
    outcomes = []
    for scenario in chosen:
        print(f"{scenario.name}: {scenario.sockets} sockets for {args.duration:g} s", flush=True)
        outcomes.append(run_scenario(scenario=scenario, address=address, args=args))
    print_report(outcomes, requests=args.requests, timeout=args.timeout)


if __name__ == "__main__":
    main()
