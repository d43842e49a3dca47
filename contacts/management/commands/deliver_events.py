"""``manage.py deliver_events``: the events worker (docs/events.md). Each round sequences the
committed history into identity events, then sends the due webhook deliveries; it runs until
SIGTERM or SIGINT, or with ``--once`` drains what is due and exits."""

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from types import FrameType

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, InterfaceError, close_old_connections

from contacts.services.events import events_sequence
from contacts.services.webhooks import RoundResult, deliveries_send_due

logger = logging.getLogger("contacts.events")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

AFTER_ERROR_SECONDS = 5.0
"""Shortest wait after a round the database failed (a restart, a failover) before the next."""


@dataclass(slots=True)
class Tally:
    """What one round, or a whole ``--once`` run, did."""

    sequenced: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0

    def add(self, other: "Tally | RoundResult") -> None:
        self.delivered += other.delivered
        self.failed += other.failed
        self.dead += other.dead
        if isinstance(other, Tally):
            self.sequenced += other.sequenced

    @property
    def sent(self) -> int:
        return self.delivered + self.failed

    @property
    def busy(self) -> bool:
        return bool(self.sequenced or self.sent)


def events_round(*, limit: int, stopping: threading.Event) -> Tally:
    """Sequence new history, then send due deliveries, ``limit`` at a time, for as long as full
    batches go out (a backlog) and no stop was asked for."""
    tally = Tally(sequenced=events_sequence())
    while not stopping.is_set():
        result = deliveries_send_due(limit=limit)
        tally.add(result)
        if result.sent < limit:
            break
    if tally.busy:
        logger.info("events round", extra=asdict(tally))
    return tally


class Command(BaseCommand):
    help = (
        "Run the events worker: sequence identity events and send them to the webhook "
        "endpoints, until SIGTERM or SIGINT; --once drains what is due now and exits."
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.stopping = threading.Event()
        """Set to end the worker after its current batch (by SIGTERM, SIGINT, or a caller)."""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="Drain what is due now, print a summary, exit."
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=1.0,
            help="Seconds to wait after a round before the next (default 1).",
        )
        parser.add_argument(
            "--limit",
            type=int,
            default=100,
            help="Deliveries claimed and sent at a time (default 100).",
        )

    def handle(self, *args: object, **options: object) -> None:
        interval, limit = float(options["interval"]), int(options["limit"])
        if interval <= 0:
            raise CommandError("--interval must be more than 0 seconds.")
        if limit < 1:
            raise CommandError("--limit must be at least 1.")
        with self._stop_on_signals():
            if options["once"]:
                self._drain(limit=limit)
            else:
                self._run(interval=interval, limit=limit)

    def _drain(self, *, limit: int) -> None:
        """Rounds until one does nothing; failed attempts are recorded for retry, not errors."""
        total = Tally()
        while not self.stopping.is_set():
            tally = events_round(limit=limit, stopping=self.stopping)
            total.add(tally)
            if not tally.busy:
                break
        self.stdout.write(
            f"{total.sequenced} events sequenced; deliveries: {total.delivered} delivered, "
            f"{total.failed} failed ({total.failed - total.dead} to be retried, "
            f"{total.dead} dead-lettered)."
        )

    def _run(self, *, interval: float, limit: int) -> None:
        """Rounds until stopped. A round the database failed is logged and tried again: stale
        connections are closed before each round, so the worker outlives a database restart."""
        while not self.stopping.is_set():
            close_old_connections()
            wait = interval
            try:
                events_round(limit=limit, stopping=self.stopping)
            except (DatabaseError, InterfaceError) as error:
                logger.warning("events round failed", extra={"error": type(error).__name__})
                wait = max(interval, AFTER_ERROR_SECONDS)
            self.stopping.wait(wait)

    @contextmanager
    def _stop_on_signals(self) -> Iterator[None]:
        """SIGTERM and SIGINT end the worker after its current batch; the previous handlers are
        back afterwards. Only the main thread may install handlers: elsewhere (a test calling
        the command in a thread), setting ``stopping`` stops it."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {number: signal.signal(number, self._stop) for number in STOP_SIGNALS}
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    def _stop(self, number: int, frame: FrameType | None) -> None:
        """The handler runs in the main thread, which may hold the lock inside ``Event.wait``
        at that moment: another thread sets the event, so that the handler never waits for it."""
        threading.Thread(target=self.stopping.set, name="deliver-events-stop").start()
