"""Locks and retries for writes to clusters. The protocol is described in docs/concurrency.md.

On PostgreSQL, writers take transaction-scoped advisory locks on the identifiers they bring that no
live contact has yet, then row locks on the primaries of the clusters they touch, each kind in
ascending order. On SQLite a write transaction already holds the whole database
(``BEGIN IMMEDIATE``), so both are no-ops there; writers wait for their turn (``write_turn``)
before they ask for it.
"""

import enum
import functools
import hashlib
import logging
import random
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import TypeVar

from django.db import InterfaceError, OperationalError, connection

from contacts.db import backend
from contacts.models import Contact

logger = logging.getLogger(__name__)

Result = TypeVar("Result")
Plan = TypeVar("Plan")

# Advisory locks one statement takes (PostgreSQL allows 1,664 entries in a target list).
MAX_KEYS_PER_STATEMENT = 1000

# How often one transaction may find that what it locked has moved, and lock what its read revealed,
# before it starts over.
MAX_LOCK_ROUNDS = 4


class SQLState(enum.StrEnum):
    """The PostgreSQL error codes the protocol answers: what a writer retries, what waited too long.
    https://www.postgresql.org/docs/15/errcodes-appendix.html"""

    SERIALIZATION_FAILURE = "40001"
    DEADLOCK_DETECTED = "40P01"
    LOCK_NOT_AVAILABLE = "55P03"
    QUERY_CANCELED = "57014"


# The transaction lost a race and may simply be run again.
RETRYABLE_SQLSTATES = frozenset({SQLState.SERIALIZATION_FAILURE, SQLState.DEADLOCK_DETECTED})


def sqlstate(error: Exception) -> str | None:
    """The SQLSTATE of the database error behind a Django database exception, if any."""
    return getattr(error.__cause__, "sqlstate", None)


class LocksChanged(Exception):
    """A transaction needs a lock it could not take in order; run the transaction again."""


def uses_row_locks() -> bool:
    """Whether the database serializes writers per row (PostgreSQL) rather than as a whole."""
    return backend().row_locks


def write_turn() -> AbstractContextManager[None]:
    """Wait, where the database needs it (SQLite), for this writer's turn before its
    transaction asks for the database's write lock (``contacts.db``)."""
    return backend().write_turn()


def identifier_keys(identifiers: Iterable[tuple[str, str]]) -> set[int]:
    """The advisory lock keys of ``("email", value)`` / ``("phone", value)`` identifiers."""
    return {identifier_lock_key(kind=kind, value=value) for kind, value in identifiers}


def lock_contacts_table() -> None:
    """Hold off every other writer of contacts until the transaction ends; reads go on. For bulk
    work (an import): take it first in the transaction, holding no other lock, so that it cannot
    join a deadlock."""
    backend().lock_contacts_table()


def identifier_lock_key(*, kind: str, value: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_xact_lock``, the same on every app server."""
    digest = hashlib.blake2b(f"{kind}:{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# Takes the advisory locks of a request's new identifiers, then the row locks of the primaries it
# changes: the identifiers' locks are taken first (the CTE), and the one-time filter that reads them
# keeps the row locks from being taken before every advisory lock is held. The primary key index
# hands the rows to ``FOR NO KEY UPDATE`` in ascending id order; the array of their ids is only
# there to make the statement lock them. One round trip for both kinds.
_LOCK_SQL = """
    WITH identifiers AS MATERIALIZED ({identifiers})
    SELECT held, ARRAY(
        SELECT id FROM {contacts}
        WHERE id = ANY(%s::bigint[]) AND (SELECT held FROM identifiers)
        ORDER BY id
        FOR NO KEY UPDATE {nowait}
    )
    FROM identifiers
"""


@functools.cache
def _lock_sql(*, key_count: int, wait: bool) -> str:
    """``_LOCK_SQL`` for ``key_count`` identifiers, built once per shape: writes reuse the text."""
    return _LOCK_SQL.format(
        identifiers=_identifier_locks_sql(count=key_count, wait=wait),
        contacts=Contact._meta.db_table,
        nowait="" if wait else "NOWAIT",
    )


def _identifier_locks_sql(*, count: int, wait: bool) -> str:
    """A one-row query whose ``held`` says whether ``count`` advisory locks, in order, are held."""
    if count == 0:
        return "SELECT TRUE AS held"
    if wait:
        calls = ", ".join(["pg_advisory_xact_lock(%s::bigint)"] * count)
        return f"SELECT TRUE AS held FROM (SELECT {calls}) AS taken"
    calls = " AND ".join(["pg_try_advisory_xact_lock(%s::bigint)"] * count)
    return f"SELECT {calls} AS held"


def lock_clusters(*, keys: Iterable[int], ids: Iterable[int], wait: bool = True) -> None:
    """Lock identifiers and cluster primaries, in the global order, until the transaction ends.

    ``keys`` are advisory lock keys of identifiers that no live contact has yet (a row lock cannot
    protect a value that is on no row, and these keep two requests from both creating a contact
    for the same new email or phone number); ``ids`` are primaries whose clusters will change.
    Keys are locked in ascending order, then rows in ascending id order, in one statement. With
    ``wait=False`` a lock that is taken raises ``LocksChanged`` instead of waiting.
    """
    ordered_keys = sorted(set(keys))
    ordered_ids = sorted(set(ids))
    if not (ordered_keys or ordered_ids) or not uses_row_locks():
        return
    try:
        # A statement's target list holds at most 1,664 entries: many keys (an erasure of a large
        # identity) are taken in several statements, still in ascending order, the rows last.
        while len(ordered_keys) > MAX_KEYS_PER_STATEMENT:
            first, ordered_keys = (
                ordered_keys[:MAX_KEYS_PER_STATEMENT],
                ordered_keys[MAX_KEYS_PER_STATEMENT:],
            )
            if not _lock_identifiers_and_rows(keys=first, ids=[], wait=wait):
                raise LocksChanged("an identifier lock is taken")
        if ordered_keys:
            held = _lock_identifiers_and_rows(keys=ordered_keys, ids=ordered_ids, wait=wait)
        else:
            _lock_rows(ids=ordered_ids, wait=wait)
            held = True
    except OperationalError as error:
        if wait or sqlstate(error) != SQLState.LOCK_NOT_AVAILABLE:
            raise
        raise LocksChanged("a primary is locked") from error
    if not held:
        raise LocksChanged("an identifier lock is taken")


def _lock_rows(*, ids: list[int], wait: bool) -> None:
    """Row locks only: ``select_for_update`` says it, in the same one statement."""
    rows = Contact.objects.filter(id__in=ids).order_by("id")
    list(rows.select_for_update(no_key=True, nowait=not wait).values_list("id", flat=True))


def _lock_identifiers_and_rows(*, keys: list[int], ids: list[int], wait: bool) -> bool:
    """Advisory locks, then row locks, in one statement (``_LOCK_SQL``): the ORM cannot take an
    advisory lock, nor order it before the rows. Returns whether every advisory lock was taken."""
    with connection.cursor() as cursor:
        cursor.execute(_lock_sql(key_count=len(keys), wait=wait), [*keys, ids])
        held, _ = cursor.fetchone()
    return held


def write_under_locks(
    *,
    plan: Callable[[], Plan],
    locks_needed: Callable[[Plan], tuple[set[int], set[int]]],
    write: Callable[[Plan], Result | None],
    first: Plan | None = None,
) -> Result:
    """Take the locks a plan needs, then write it if what it was made from is still there.

    The one plan → lock → re-check loop of every writer of clusters (docs/concurrency.md). Runs
    inside the caller's transaction. ``plan`` reads and decides; ``locks_needed`` names the
    identifier keys and primary ids a plan's writes need; ``write`` checks, under those locks, that
    the plan still holds and writes it (returning what it wrote), or writes nothing and returns
    ``None``. The first locks, those of ``first`` (or of a first read), are taken in the global
    order and may wait; what a later read adds is taken without waiting, else ``LocksChanged``
    starts the transaction over.
    """
    current = first if first is not None else plan()
    held_keys: set[int] = set()
    held_ids: set[int] = set()
    for round_ in range(MAX_LOCK_ROUNDS):
        if round_ > 0:
            current = plan()
        keys, ids = locks_needed(current)
        lock_clusters(keys=keys - held_keys, ids=ids - held_ids, wait=round_ == 0)
        held_keys |= keys
        held_ids |= ids
        written = write(current)
        if written is not None:
            return written
    raise LocksChanged("the clusters kept changing while they were being locked")


def is_retryable(error: OperationalError) -> bool:
    return sqlstate(error) in RETRYABLE_SQLSTATES


def connection_lost() -> bool:
    """Whether the connection died under the last statement (server restart, backend killed)."""
    raw = connection.connection
    # psycopg's connections say whether they are closed or broken; SQLite's cannot be lost.
    return raw is None or getattr(raw, "closed", False) or getattr(raw, "broken", False)


def run_with_retries(
    operation: Callable[[int], Result],
    *,
    attempts: int,
    base_delay: float = 0.005,
    max_delay: float = 0.2,
) -> Result:
    """Run ``operation(attempt)`` (which owns its transaction) again after deadlocks and lost races.

    Waits a random, growing delay between attempts (full jitter) so that the losers of a race do not
    collide again; gives up after ``attempts`` and re-raises the last error. A connection that was
    open and died under the operation (a persistent connection to a restarted server) is replaced
    and the operation run again once; a connection that cannot be opened fails at once.
    """
    attempt = 1
    reconnected = False
    while True:
        had_connection = connection.connection is not None
        try:
            return operation(attempt)
        except (OperationalError, InterfaceError, LocksChanged) as error:
            lost = had_connection and not reconnected and connection_lost()
            retryable = isinstance(error, LocksChanged) or is_retryable(error) or lost
            if not retryable or attempt >= attempts:
                raise
            if lost:
                logger.warning("reconnecting after the database connection was lost: %s", error)
                connection.close()
                reconnected = True
            else:
                logger.info("retrying after %s (attempt %d of %d)", error, attempt, attempts)
                time.sleep(random.uniform(0, min(max_delay, base_delay * 2**attempt)))
            attempt += 1
