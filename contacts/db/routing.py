"""Reads that may come from a read replica (``DATABASE_REPLICA_URL``), and when (docs/scaling.md).

Nothing reads from the replica unless asked: the admin's lists and cluster pages, an identity's
explanation and history, and the operators' checks and reports ask, through ``replica_reads()``
(or ``reads_from_replica`` around a view). ``/identify/``, the lookup and every write never ask:
they must see what the last write did. Within ``replica_reads()`` the contacts app's reads go to
the replica while it is reachable, a standby, and no more than ``REPLICA_MAX_LAG`` seconds behind
its primary; otherwise to the primary. Each process looks at the replica at most once a second
(after a failure, every ``RETRY_SECONDS``), so the look costs a request nothing most of the time.
"""

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import ParamSpec, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from contacts.db import backend

logger = logging.getLogger(__name__)

REPLICA = "replica"
CHECK_SECONDS = 1.0
"""How long a process trusts what it last saw of a usable or lagging replica."""
RETRY_SECONDS = 5.0
"""How long a process reads from the primary alone after the replica could not be used."""
PRIMARY_PIN_COOKIE = "read_from_primary"

P = ParamSpec("P")
R = TypeVar("R")

_reads: ContextVar[str] = ContextVar("replica_reads", default=DEFAULT_DB_ALIAS)


@dataclass(frozen=True)
class ReplicaStatus:
    """What a process last saw of the replica: ``state`` is ``ok``, ``lagging`` (past
    ``REPLICA_MAX_LAG``, or by an unknown amount), ``unreachable`` or ``not a standby`` (a
    promoted or misconfigured server, whose data may have parted from the primary's)."""

    state: str
    lag: float | None = None
    """Seconds its data trails the primary's, where known."""

    @property
    def usable(self) -> bool:
        return self.state == "ok"


UNREACHABLE = ReplicaStatus(state="unreachable")
NOT_A_STANDBY = ReplicaStatus(state="not a standby")


class _LastLook:
    """The replica's status as this process last saw it, shared by its threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.status = UNREACHABLE
        self.expires = 0.0


_last_look = _LastLook()


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def replica_status(*, fresh: bool = False) -> ReplicaStatus | None:
    """The replica's status (``None`` when none is configured), looked at again when the last
    look is older than ``CHECK_SECONDS`` (``RETRY_SECONDS`` after a failure), or ``fresh``."""
    if not replica_configured():
        return None
    with _last_look.lock:
        now = time.monotonic()
        if fresh or now >= _last_look.expires:
            _last_look.status = _look()
            wait = CHECK_SECONDS if _last_look.status.state in ("ok", "lagging") else RETRY_SECONDS
            _last_look.expires = now + wait
        return _last_look.status


def _look() -> ReplicaStatus:
    try:
        in_recovery, lag = backend(using=REPLICA).standby_lag()
    except DatabaseError as error:
        reason = str(error).strip().partition("\n")[0] or type(error).__name__
        logger.warning("read replica unreachable (%s): reading from the primary", reason)
        connections[REPLICA].close()
        return UNREACHABLE
    if not in_recovery:
        logger.warning("read replica is not a standby: reading from the primary")
        return NOT_A_STANDBY
    if lag is None or lag > settings.REPLICA_MAX_LAG:
        return ReplicaStatus(state="lagging", lag=lag)
    return ReplicaStatus(state="ok", lag=lag)


@contextmanager
def replica_reads() -> Iterator[str]:
    """Within, the contacts app's reads come from the replica if it is usable now; yields the
    alias they come from."""
    status = replica_status()
    alias = REPLICA if status is not None and status.usable else DEFAULT_DB_ALIAS
    token = _reads.set(alias)
    try:
        yield alias
    finally:
        _reads.reset(token)


@contextmanager
def operator_reads() -> Iterator[str]:
    """``replica_reads()`` for an operator's read-only command: its scans get the operator's
    statement timeout on whichever database they read (``DatabaseBackend.operator_session``)."""
    with replica_reads() as alias:
        if alias == DEFAULT_DB_ALIAS:
            yield alias
            return
        with backend(using=alias).operator_session():
            yield alias


def pinned_to_primary(request: HttpRequest) -> bool:
    """Whether ``request`` comes from someone who changed something moments ago, whose pages read
    from the primary until the replica must have their change (``pin_to_primary``)."""
    return PRIMARY_PIN_COOKIE in request.COOKIES


def pin_to_primary(response: HttpResponse) -> None:
    """Send the client's next pages to the primary for as long as the replica may lack what this
    response's request changed: ``REPLICA_MAX_LAG``, plus the time a process trusts its look."""
    response.set_cookie(
        PRIMARY_PIN_COOKIE,
        "1",
        max_age=math.ceil(settings.REPLICA_MAX_LAG + CHECK_SECONDS),
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def reads_from_replica(view: Callable[P, R]) -> Callable[P, R]:
    """Run a read-only view (a function or a method) within ``replica_reads()``, its template
    rendered there too, unless its request is ``pinned_to_primary``.

    Should a read fail during the view, the view runs again on the primary: a replica that stops
    answering, or drops a connection, costs a page nothing but time.
    """

    @wraps(view)
    def within_replica_reads(*args: P.args, **kwargs: P.kwargs) -> R:
        request = next(arg for arg in args if hasattr(arg, "COOKIES"))
        if pinned_to_primary(request):
            return view(*args, **kwargs)
        with replica_reads() as alias:
            if alias == DEFAULT_DB_ALIAS:
                return view(*args, **kwargs)
            try:
                response = view(*args, **kwargs)
                if isinstance(response, TemplateResponse):
                    response.render()
                return response
            except DatabaseError:
                # What failed may be this connection only: look at the replica on a new one.
                connections[REPLICA].close()
                replica_status(fresh=True)
        logger.warning("read replica failed during a request: read again from the primary")
        return view(*args, **kwargs)

    return within_replica_reads


class ReplicaRouter:
    """Django's database router: the contacts app's reads within ``replica_reads()`` go to the
    replica, unless a transaction is open on the primary (what it reads, it may be about to
    write); every other read, and every write, goes to the primary, also for rows that came from
    the replica. https://docs.djangoproject.com/en/5.2/topics/db/multi-db/#database-routers"""

    def db_for_read(self, model: type[Model], **hints: object) -> str:
        if (
            _reads.get() == REPLICA
            and model._meta.app_label == "contacts"
            and not connections[DEFAULT_DB_ALIAS].in_atomic_block
        ):
            return REPLICA
        return DEFAULT_DB_ALIAS

    def db_for_write(self, model: type[Model], **hints: object) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Model, obj2: Model, **hints: object) -> bool:
        """Both hold the same rows: the replica is a copy of the primary."""
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: object) -> bool:
        """The replica follows the primary's schema by replication; nothing migrates it."""
        return db == DEFAULT_DB_ALIAS
