"""The service's Prometheus metrics, served by ``GET /metrics`` (docs/operations.md, "Metrics").

Counted as things happen: each request's duration by endpoint and outcome, and the 503s by
reason (``RequestLogMiddleware`` records them from what its log line says), merges and held
merges (``contact_identify``), and the threads and database connections each process holds.
Read when scraped (``ScrapeTimeCollector``): the held merges waiting for a person, the events
waiting to be sequenced or delivered, and the read replica's state.

Under gunicorn each worker process writes its values to files in ``PROMETHEUS_MULTIPROC_DIR``
(``gunicorn.conf.py`` makes a private one) and a scrape, whichever worker answers it, adds up
those of every process: prometheus-client's multiprocess mode. Elsewhere (``runserver``, tests,
commands) the values live in the process. No label carries personal data: endpoints are URL
names, outcomes and reasons are codes.
"""

import logging
import os
import threading
from collections.abc import Iterator, Mapping
from datetime import datetime

from django.db import DatabaseError, connections
from django.http import HttpRequest
from django.urls import Resolver404, resolve
from django.utils import timezone
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector

from contacts.db.routing import replica_status
from contacts.rules import Outcome
from contacts.selectors.metrics import operations_backlog

logger = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
"""Prometheus' text format 0.0.4, which every Prometheus server reads."""

MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR" in os.environ
"""Whether values are written to files for every process's scrape: prometheus-client decides
it the same way, from the environment, when it is first imported."""

# The metrics as this process alone holds them (outside gunicorn); under gunicorn a scrape reads
# every process's files instead (``metrics_exposition``).
_process_registry = CollectorRegistry()

REQUEST_SECONDS = Histogram(
    "bitespeed_request_duration_seconds",
    "Seconds from a request's arrival in Django to its answer, by endpoint (the URL's name; "
    "admin for the admin's pages, unmatched for unknown paths and static files) and outcome.",
    labelnames=["endpoint", "outcome"],
    # Few buckets: every endpoint and outcome carries one series per bucket.
    buckets=(0.01, 0.05, 0.25, 1.0, 5.0),
    registry=_process_registry,
)
UNAVAILABLE = Counter(
    "bitespeed_unavailable_responses",
    "Requests answered 503 because the database was busy or unreachable, by reason.",
    labelnames=["reason"],
    registry=_process_registry,
)
MERGES = Counter(
    "bitespeed_identity_merges",
    "Writes that joined two or more identities into one, by source: api (/identify/) or admin "
    "(a held merge approved).",
    labelnames=["source"],
    registry=_process_registry,
)
HELD_MERGES = Counter(
    "bitespeed_held_merges",
    "Writes of /identify/ held for a person (IDENTITY_MAX_CLUSTER_SIZE, a never-link pair); a "
    "held merge sent again counts again.",
    registry=_process_registry,
)
THREADS_BUSY = Gauge(
    "bitespeed_threads_busy",
    "Requests being served now: threads busy in Django, summed over the live worker processes.",
    multiprocess_mode="livesum",
    registry=_process_registry,
)
THREADS = Gauge(
    "bitespeed_threads",
    "Threads that serve requests (gunicorn's threads of each worker), summed over the live "
    "worker processes: the capacity of bitespeed_threads_busy.",
    multiprocess_mode="livesum",
    registry=_process_registry,
)
DATABASE_CONNECTIONS = Gauge(
    "bitespeed_database_connections_open",
    "Persistent database connections held by request threads, as each thread left them at the "
    "end of its last request, summed over the live worker processes, by database alias.",
    labelnames=["database"],
    multiprocess_mode="livesum",
    registry=_process_registry,
)


def endpoint_of(request: HttpRequest) -> str:
    """The request's endpoint as a label: its URL's name, never its path (which holds ids).

    Requests answered before URL resolution (the health checks) are resolved here; unknown paths
    and the static files WhiteNoise serves are ``unmatched``.
    """
    match = request.resolver_match
    if match is None:
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return "unmatched"
    if "admin" in match.namespaces:
        return "admin"
    return match.url_name or "unnamed"


def _outcome_of_status(status: int) -> str:
    if status < 400:
        return "ok"
    if status in (401, 403):
        return "denied"
    if status == 404:
        return "not_found"
    if status == 429:
        return "throttled"
    if status < 500:
        return "rejected"
    if status == 503:
        return "unavailable"
    return "error"


def request_record(
    *, request: HttpRequest, status: int, fields: Mapping[str, object], seconds: float
) -> None:
    """Count an answered request: ``fields`` are its log line's (``annotate_request``), whose
    ``outcome`` wins over the one its status gives, and whose ``reason`` names a 503's cause."""
    outcome = str(fields.get("outcome") or _outcome_of_status(status))
    REQUEST_SECONDS.labels(endpoint=endpoint_of(request), outcome=outcome).observe(seconds)
    reason = fields.get("reason")
    if outcome == "unavailable" and reason:
        UNAVAILABLE.labels(reason=str(reason)).inc()


def identify_record(*, outcome: Outcome, source: str) -> None:
    """Count what a write of ``contact_identify`` did, once it committed."""
    if outcome is Outcome.MERGE:
        MERGES.labels(source=source).inc()
    elif outcome is Outcome.HELD:
        HELD_MERGES.inc()


class _ConnectionsHeld:
    """The request threads of this process that hold an open connection, per database.

    Django's connections are per thread, and a thread sees only its own: each thread reports
    its own at the end of each request (``connections_record``), after Django closed those past
    ``CONN_MAX_AGE``. Between requests a thread's connection stays as it was left.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.threads: dict[str, set[int]] = {}

    def record(self) -> None:
        thread = threading.get_ident()
        for connection in connections.all(initialized_only=True):
            is_open = connection.connection is not None
            with self.lock:
                holders = self.threads.setdefault(connection.alias, set())
                if (thread in holders) == is_open:
                    continue
                if is_open:
                    holders.add(thread)
                else:
                    holders.discard(thread)
                DATABASE_CONNECTIONS.labels(database=connection.alias).set(len(holders))


_connections_held = _ConnectionsHeld()


def connections_record(**kwargs: object) -> None:
    """``request_finished``'s receiver, connected after Django's ``close_old_connections``."""
    _connections_held.record()


def _age(since: datetime | None, *, now: datetime) -> float:
    return max((now - since).total_seconds(), 0.0) if since is not None else 0.0


class ScrapeTimeCollector:
    """What a scrape reads now: the backlog in the database (a few indexed statements,
    ``operations_backlog``) and the read replica's state as this process last saw it.

    When the database cannot be read, ``bitespeed_database_up`` is 0 and the backlog is left
    out, so that the request metrics are still served.
    """

    def collect(self) -> Iterator[Metric]:
        yield from self._backlog()
        yield from self._replica()

    def _backlog(self) -> Iterator[Metric]:
        up = "bitespeed_database_up"
        up_help = "1 when this scrape read the backlog from the database, 0 when it failed."
        try:
            backlog = operations_backlog()
        except DatabaseError:
            logger.warning("metrics: the database could not be read", exc_info=True)
            yield GaugeMetricFamily(up, up_help, value=0)
            return
        now = timezone.now()
        yield GaugeMetricFamily(up, up_help, value=1)
        yield GaugeMetricFamily(
            "bitespeed_held_merges_pending",
            "Held merges waiting for a person's decision in the admin.",
            value=backlog.held_merges_pending,
        )
        yield GaugeMetricFamily(
            "bitespeed_events_unsequenced_age_seconds",
            "Age of the oldest committed change not yet sequenced into an identity event "
            "(deliver_events or GET /events/ sequence); 0 when none waits.",
            value=_age(backlog.oldest_unsequenced_at, now=now),
        )
        yield GaugeMetricFamily(
            "bitespeed_webhook_deliveries_pending",
            "Webhook deliveries to enabled endpoints not yet delivered nor dead-lettered.",
            value=backlog.deliveries_pending,
        )
        yield GaugeMetricFamily(
            "bitespeed_webhook_delivery_lag_seconds",
            "Age of the change behind the oldest pending webhook delivery to an enabled "
            "endpoint; 0 when none waits.",
            value=_age(backlog.oldest_pending_event_at, now=now),
        )

    def _replica(self) -> Iterator[Metric]:
        status = replica_status()
        if status is None:
            return
        yield GaugeMetricFamily(
            "bitespeed_replica_up",
            "1 while the read replica is reachable, a standby and within REPLICA_MAX_LAG; else 0.",
            value=1 if status.state == "ok" else 0,
        )
        if status.lag is not None:
            yield GaugeMetricFamily(
                "bitespeed_replica_lag_seconds",
                "Seconds the read replica's data trails the primary's, as this process last saw.",
                value=status.lag,
            )


_scrape_time = ScrapeTimeCollector()
_process_registry.register(_scrape_time)


def metrics_exposition() -> bytes:
    """The text of a scrape: every worker process's counts under gunicorn (this process's
    elsewhere), and what is read now."""
    if not MULTIPROCESS:
        return generate_latest(_process_registry)
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    registry.register(_scrape_time)
    return generate_latest(registry)
