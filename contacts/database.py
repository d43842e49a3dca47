"""What the service asks of its database session beyond the ORM (PostgreSQL; no-ops on SQLite).

Request connections keep one generic plan per prepared statement (settings: ``plan_cache_mode``):
``/identify/``'s few statements are then planned once per connection instead of on every request.

- The planner's statistics of the contacts table follow it while it is small, so that those plans
  are made again as ``/identify/`` grows it (``statistics_follow_growth``).
- Work on batches of values (corrections, reconciliation) is planned for its values
  (``plans_for_values``).
- Operator work (``migrate``, ``import_contacts``, ``reconcile``) runs with its own statement
  timeout instead of a request's (``operator_session``).
- A bulk load gathers the planner's statistics itself (``tables_analyze``).
"""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model

from contacts.models import Contact

logger = logging.getLogger(__name__)

# PostgreSQL's own choice between a generic plan and plans for each execution's values. A generic
# plan of a statement with a list of thousands of values (``IN (%s, …)``) cannot hash the list and
# compares every row with each value: a reconciliation batch many times slower (bench/RESULTS.md).
_PLAN_FOR_VALUES = "auto"


# Up to this many contacts, as the last ANALYZE or VACUUM counted them, the contacts table's
# statistics are gathered whenever a write finds it has doubled in size since: a plan made from the
# statistics of a few pages reads the table whole. Plans made from the statistics of half as many
# contacts are index look-ups, which stay the cheapest however large the table grows
# (contacts/tests/test_plan_caching.py checks them).
FOLLOWED_CONTACTS = 5_000

_CONTACTS_TABLE = Contact._meta.db_table
# What /identify/'s write statement reports of the contacts table, so that following its growth
# costs no statement of its own: its size now, its size and its rows when last counted.
TABLE_GROWTH_COLUMNS = f"""
    pg_relation_size('{_CONTACTS_TABLE}'::regclass),
    (SELECT relpages * current_setting('block_size')::bigint FROM pg_class
     WHERE oid = '{_CONTACTS_TABLE}'::regclass),
    (SELECT reltuples FROM pg_class WHERE oid = '{_CONTACTS_TABLE}'::regclass)
"""
# One ANALYZE at a time per process: writers that see the same doubling do not queue one each.
_ANALYZING = threading.Lock()


class TableGrowth(NamedTuple):
    """The contacts table's size in bytes, and its size and rows when statistics last counted
    them (``relpages``, ``reltuples``: -1 before any ANALYZE or VACUUM)."""

    table_bytes: int
    counted_bytes: int
    counted: float


def is_postgresql(connection: BaseDatabaseWrapper) -> bool:
    return connection.vendor == "postgresql"


def plans_for_values(*, using: str = DEFAULT_DB_ALIAS) -> None:
    """Plan the rest of the current transaction's statements for their values (``SET LOCAL``).

    For a writer whose statements are built from a batch (the clusters of a correction or of a
    reconciliation batch: lists of up to thousands of ids, emails and phone numbers), rather than
    ``/identify/``'s few fixed statements. One statement; call it first in the transaction.
    """
    connection = connections[using]
    if not is_postgresql(connection):
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('plan_cache_mode', %s, true)", [_PLAN_FOR_VALUES])


@contextmanager
def operator_session(*, using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Run an operator's command with ``OPERATOR_STATEMENT_TIMEOUT_MS`` as its statement and
    idle-in-transaction timeouts, instead of a request's bounds, and its statements planned for
    their values.

    A request's bounds would cancel a million-row ``COPY``, a data migration, or the streamed read
    of the whole table, and end an import's transaction while it plans in Python. Set on the
    session, so that it also covers statements outside a transaction, and on any connection opened
    while the command runs; restored to the connection's request settings afterwards. The lock
    timeout stays: a command waiting for a lock the API holds gives up as a request would.
    """
    connection = connections[using]
    if not is_postgresql(connection):
        yield
        return
    connection.operator_session = True
    if connection.connection is not None:
        _set_operator_settings(connection)
    try:
        yield
    finally:
        connection.operator_session = False
        if connection.connection is not None and connection.is_usable():
            _reset_operator_settings(connection)


def _operator_settings() -> dict[str, str]:
    timeout = str(settings.OPERATOR_STATEMENT_TIMEOUT_MS)
    return {
        "statement_timeout": timeout,
        "idle_in_transaction_session_timeout": timeout,
        "plan_cache_mode": _PLAN_FOR_VALUES,
    }


def _set_operator_settings(connection: BaseDatabaseWrapper) -> None:
    names, values = zip(*_operator_settings().items(), strict=True)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config(name, value, false) FROM unnest(%s::text[], %s::text[]) AS "
            "setting(name, value)",
            [list(names), list(values)],
        )


def _reset_operator_settings(connection: BaseDatabaseWrapper) -> None:
    """Back to the values the connection started with: the request settings of its options."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config(name, reset_val, false) FROM pg_settings WHERE name = ANY(%s)",
            [list(_operator_settings())],
        )


def tables_analyze(*, models: list[type[Model]], using: str = DEFAULT_DB_ALIAS) -> None:
    """Gather the planner's statistics of these tables now, in the caller's transaction.

    For a writer that has just loaded many rows: what follows it is planned from what the tables
    hold, not from what autovacuum saw a minute or more ago. ``ANALYZE`` reads a sample of 30,000
    rows at the default statistics target, so it takes about as long on any size.
    """
    connection = connections[using]
    if not is_postgresql(connection):
        return
    tables = ", ".join(connection.ops.quote_name(model._meta.db_table) for model in models)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {tables}")


def statistics_follow_growth(growth: TableGrowth) -> None:
    """After a write that added a contact: once it commits, ``ANALYZE`` the contacts table if its
    statistics counted fewer than ``FOLLOWED_CONTACTS`` and it has doubled in size since.

    psycopg prepares a statement the fifth time a connection runs it, and PostgreSQL keeps one
    generic plan for it (``plan_cache_mode=force_generic_plan``) until a schema change or an
    ``ANALYZE`` of a table it reads. A plan made on an empty table, or from statistics of a few
    pages, reads the table (or a live partial index) whole; a new deployment kept such plans while
    its table grew, until autovacuum's first ``ANALYZE`` a minute or more later. An ``ANALYZE``
    makes every connection plan its statements again. About a dozen in a deployment's life;
    ``SKIP_LOCKED``, so that it never waits for autovacuum. One that fails (a timeout, a standby)
    is logged: statistics make plans better, never a request fail.
    """
    if growth.counted >= FOLLOWED_CONTACTS or growth.table_bytes < 2 * growth.counted_bytes:
        return
    transaction.on_commit(_contacts_analyze)


def _contacts_analyze() -> None:
    if not _ANALYZING.acquire(blocking=False):
        return
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute(f"ANALYZE (SKIP_LOCKED) {_CONTACTS_TABLE}")
    except DatabaseError as error:
        logger.warning("statistics of %s not gathered: %s", _CONTACTS_TABLE, error)
    finally:
        _ANALYZING.release()


def operator_timeouts_on_connect(*, connection: BaseDatabaseWrapper, **kwargs: object) -> None:
    """A ``connection_created`` receiver: a connection opened during an operator's command (after a
    lost connection) gets the command's settings, not only its startup options' request bounds."""
    if getattr(connection, "operator_session", False):
        _set_operator_settings(connection)
