"""PostgreSQL: hand-written statements where the ORM would cost round trips or plans, the planner's
statistics of a growing table, and the session settings of requests and of operator commands.

Request connections keep one generic plan per prepared statement (settings: ``plan_cache_mode``):
``/identify/``'s few statements are then planned once per connection instead of on every request.
While the contacts table is small its statistics follow its growth, so that those plans are made
again as it grows; work on batches of values is planned for its values; operator commands run with
their own statement timeout.
"""

import json
import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper
from django.db.models import Model
from psycopg import sql
from psycopg.types.datetime import TimestamptzLoader

from contacts.db.base import Applied, ClusterRead, DatabaseBackend, identify_request
from contacts.db.postgresql_statements import (
    APPLY_IF_UNCHANGED_FUNCTION,
    APPLY_IF_UNCHANGED_SQL,
    CLUSTER_ROWS_FUNCTION,
    CLUSTER_ROWS_SQL,
    HISTORY_HORIZON_SQL,
    IMPORT_HISTORY_SQL,
    STATEMENT_FUNCTIONS,
)
from contacts.models import Contact, EventKind, LinkPrecedence, Source
from contacts.rows import ContactRow
from contacts.rules import IdentifyPlan
from contacts.rules.events import Horizon

logger = logging.getLogger(__name__)

_CONTACTS = Contact._meta.db_table

# Up to this many contacts, as the last ANALYZE or VACUUM counted them, the contacts table's
# statistics are gathered whenever a write finds it has doubled in size since: a plan made from the
# statistics of a few pages reads the table whole. Plans made from the statistics of half as many
# contacts are index look-ups, which stay the cheapest however large the table grows
# (contacts/tests/test_plan_caching.py checks them).
FOLLOWED_CONTACTS = 5_000

# One ANALYZE at a time per process: writers that see the same doubling do not queue one each.
_ANALYZING = threading.Lock()


class TableGrowth(NamedTuple):
    """The contacts table's size in bytes, and its size and rows when statistics last counted
    them (``relpages``, ``reltuples``: -1 before any ANALYZE or VACUUM)."""

    table_bytes: int
    counted_bytes: int
    counted: float


# PostgreSQL's own choice between a generic plan and plans for each execution's values. A generic
# plan of a statement with a list of thousands of values (``IN (%s, …)``) cannot hash the list and
# compares every row with each value: a reconciliation batch many times slower (bench/RESULTS.md).
_PLAN_FOR_VALUES = "auto"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _state(rows: list[ContactRow]) -> str:
    """The rows as ``APPLY_IF_UNCHANGED_SQL`` aggregates the clusters it reads, for comparison."""
    return json.dumps(
        [
            [
                row.id,
                row.linked_id,
                row.email,
                row.phone_number,
                (row.created_at - _EPOCH) // timedelta(microseconds=1),
            ]
            for row in sorted(rows, key=lambda row: row.id)
        ]
    )


def load_datetimes_in_c(cursor: CursorWrapper) -> None:
    """Parse ``timestamptz`` values with psycopg's own loader on this cursor.

    Django replaces it, on every connection, with a Python subclass that costs ~10 µs a value:
    most of the time of a lookup into a cluster of 10,000 contacts. psycopg's loader, written in
    C, gives the same aware datetimes in the connection's time zone (UTC, set by Django).
    """
    cursor.cursor.adapters.register_loader("timestamptz", TimestamptzLoader)


class PostgreSQLBackend(DatabaseBackend):
    row_locks = True

    # --- POST /identify/ --------------------------------------------------------------------------

    def cluster_rows(self, *, email: str | None, phone_number: str | None) -> ClusterRead:
        """One hand-written statement (``postgresql_statements.PG_CLUSTER_CTE``), whatever the size
        of the clusters; plain rows, no model instances: the hot path of ``/identify/``. Through
        a pooler in transaction mode, its function (``StatementFunction``), planned once per
        server connection."""
        statement = CLUSTER_ROWS_FUNCTION.call if _pooled() else CLUSTER_ROWS_SQL
        with self.connection.cursor() as cursor:
            load_datetimes_in_c(cursor)
            cursor.execute(statement, {"match_email": email, "match_phone_number": phone_number})
            read = cursor.fetchall()
        token = int(read[0][1])
        del read[0]
        return ClusterRead(rows=list(map(ContactRow._make, read)), governance_token=token)

    def apply_if_unchanged(self, *, plan: IdentifyPlan, source: Source) -> Applied | None:
        """The check, the writes and the history in one statement (``APPLY_IF_UNCHANGED_SQL``, or
        its function through a pooler in transaction mode)."""
        primary = plan.primary
        params = {
            "email": plan.email,
            "phone_number": plan.phone_number,
            "match_email": plan.match_email,
            "match_phone_number": plan.match_phone_number,
            "token": plan.policy_token,
            "state": _state(plan.rows),
            "primary_id": primary.id if primary else None,
            "demoted_ids": plan.demoted_ids,
            "demotes": bool(plan.demoted_ids) and primary.linked_id is not None,
            "stores_link": plan.stores_link,
            "source": source.value,
            "creates": plan.creates_contact,
            "precedence": LinkPrecedence.SECONDARY if primary else LinkPrecedence.PRIMARY,
            "request": json.dumps(identify_request(plan=plan)),
            "bridged_by": json.dumps(plan.bridged_by),
            "merged_kind": EventKind.MERGED.value,
            "creation_kind": (
                EventKind.SECONDARY_ADDED if primary else EventKind.PRIMARY_CREATED
            ).value,
        }
        statement = APPLY_IF_UNCHANGED_FUNCTION.call if _pooled() else APPLY_IF_UNCHANGED_SQL
        with self.connection.cursor() as cursor:
            load_datetimes_in_c(cursor)
            cursor.execute(statement, params)
            unchanged, new_id, created_at, *growth = cursor.fetchone()
        if not unchanged:
            return None
        if new_id is not None:
            self._statistics_follow_growth(TableGrowth(*growth))
        return Applied(new_id=new_id, created_at=created_at)

    @contextmanager
    def write_turn(self) -> Iterator[None]:
        """None needed: writers lock rows and identifiers (``contacts.locking.lock_clusters``)."""
        yield

    def _statistics_follow_growth(self, growth: TableGrowth) -> None:
        """After a write that added a contact: once it commits, ``ANALYZE`` the contacts table if
        its statistics counted fewer than ``FOLLOWED_CONTACTS`` and it has doubled in size since.

        psycopg prepares a statement the fifth time a connection runs it, and PostgreSQL keeps one
        generic plan for it (``plan_cache_mode=force_generic_plan``) until a schema change or an
        ``ANALYZE`` of a table it reads. A plan made on an empty table, or from statistics of a few
        pages, reads the table (or a live partial index) whole; a new deployment kept such plans
        while its table grew, until autovacuum's first ``ANALYZE`` a minute or more later. An
        ``ANALYZE`` makes every connection plan its statements again. About a dozen in a
        deployment's life; ``SKIP_LOCKED``, so that it never waits for autovacuum. One that fails
        (a timeout, a standby) is logged: statistics make plans better, never a request fail.
        """
        if growth.counted >= FOLLOWED_CONTACTS or growth.table_bytes < 2 * growth.counted_bytes:
            return
        transaction.on_commit(self._contacts_analyze, using=self.using)

    def _contacts_analyze(self) -> None:
        if not _ANALYZING.acquire(blocking=False):
            return
        try:
            with self.connection.cursor() as cursor:
                cursor.execute(f"ANALYZE (SKIP_LOCKED) {_CONTACTS}")
        except DatabaseError as error:
            logger.warning("statistics of %s not gathered: %s", _CONTACTS, error)
        finally:
            _ANALYZING.release()

    # --- Bulk work --------------------------------------------------------------------------------

    def lock_contacts_table(self) -> None:
        """``EXCLUSIVE`` conflicts with the row locks and inserts of ``/identify/`` but not with
        plain reads. Taken before anything else in the transaction, so it cannot join a deadlock."""
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"LOCK TABLE {self.connection.ops.quote_name(_CONTACTS)} IN EXCLUSIVE MODE"
            )

    def reserve_contact_ids(self, *, count: int) -> list[int]:
        """From the id sequence, so that concurrent writers get others."""
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [_CONTACTS, Contact._meta.pk.column, count],
            )
            return sorted(contact_id for (contact_id,) in cursor.fetchall())

    def bulk_insert(
        self, *, model: type[Model], fields: list[str], rows: Iterable[tuple], batch_size: int
    ) -> None:
        """``COPY``: rows stream to the server without a statement each."""
        quote = self.connection.ops.quote_name
        meta = model._meta
        columns = ", ".join(quote(meta.get_field(name).column) for name in fields)
        with (
            self.connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def record_import_history(
        self,
        *,
        contact_ids: list[int],
        linked_ids: Sequence[int],
        label: str,
        now: datetime,
        batch_size: int,
    ) -> None:
        """One statement, grouped by the database from the rows just inserted, so that no row of
        history goes through Python."""
        with self.connection.cursor() as cursor:
            cursor.execute(
                IMPORT_HISTORY_SQL,
                {
                    "created": EventKind.PRIMARY_CREATED.value,
                    "added": EventKind.SECONDARY_ADDED.value,
                    "source": Source.COMMAND.value,
                    "label": label,
                    "now": now,
                    "ids": contact_ids,
                },
            )

    # --- Sessions ---------------------------------------------------------------------------------

    @contextmanager
    def operator_session(self) -> Iterator[None]:
        """The session's statement and idle-in-transaction timeouts become
        ``OPERATOR_STATEMENT_TIMEOUT_MS``, and its statements are planned for their values.

        A request's bounds would cancel a million-row ``COPY``, a data migration, or the streamed
        read of the whole table, and end an import's transaction while it plans in Python. Set on
        the session, so that it also covers statements outside a transaction, and on any
        connection opened while the command runs (``connection_created``); restored to the
        connection's request settings afterwards. The lock timeout stays: a command waiting for a
        lock the API holds gives up as a request would. Behind a pooler in transaction mode
        nothing is set: the server connection would carry it into other clients' transactions.
        """
        if _pooled():
            logger.warning(
                "operator settings left out behind a pooler in transaction mode: a session "
                "setting would reach other clients' transactions; run long operator work over a "
                "direct connection (docs/scaling.md)"
            )
            yield
            return
        connection = self.connection
        connection.operator_session = True
        if connection.connection is not None:
            _set_operator_settings(connection)
        try:
            yield
        finally:
            connection.operator_session = False
            if connection.connection is not None and connection.is_usable():
                _reset_operator_settings(connection)

    def session_settings_missing(self) -> dict[str, tuple[str, str]]:
        wanted = {name: str(value) for name, value in settings.DATABASE_SESSION_SETTINGS.items()}
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", [list(wanted)]
            )
            in_effect = dict(cursor.fetchall())
        return {
            name: (value, in_effect.get(name, ""))
            for name, value in wanted.items()
            if in_effect.get(name) != value
        }

    def statement_functions_install(self) -> None:
        with self.connection.cursor() as cursor:
            for function in STATEMENT_FUNCTIONS:
                cursor.execute(function.definition)

    def statement_functions_missing(self) -> list[str]:
        if not _pooled():
            return []
        wanted = [function.name for function in STATEMENT_FUNCTIONS]
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT proname FROM pg_proc WHERE proname = ANY(%s)", [wanted])
            present = {name for (name,) in cursor.fetchall()}
        return [name for name in wanted if name not in present]

    def standby_lag(self) -> tuple[bool, float | None]:
        """Lag as the time since the last transaction replayed, while the standby has received
        more than it has replayed: a primary that writes nothing leaves its standby at 0, not
        ever further behind. https://www.postgresql.org/docs/15/functions-admin.html"""
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_is_in_recovery(), CASE "
                "WHEN pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0 "
                "ELSE extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()) "
                "END::float8"
            )
            in_recovery, lag = cursor.fetchone()
        return in_recovery, lag if in_recovery else None

    def role_settings_apply(self) -> list[str]:
        statements = [
            sql.SQL("ALTER ROLE CURRENT_USER IN DATABASE {} SET {} = {}").format(
                sql.Identifier(self.connection.settings_dict["NAME"]),
                sql.Identifier(name),
                sql.Literal(str(value)),
            )
            for name, value in settings.DATABASE_SESSION_SETTINGS.items()
        ]
        self.connection.ensure_connection()
        texts = [statement.as_string(self.connection.connection) for statement in statements]
        with self.connection.cursor() as cursor:
            for text in texts:
                cursor.execute(text)
        return texts

    def history_horizon(self) -> tuple[int, Horizon | None]:
        with self.connection.cursor() as cursor:
            cursor.execute(HISTORY_HORIZON_SQL)
            last_id, xmin, xmax = cursor.fetchone()
        return last_id, Horizon(xmin=xmin, xmax=xmax)

    def plans_for_values(self) -> None:
        """``SET LOCAL plan_cache_mode``, for a writer whose statements are built from a batch
        (lists of up to thousands of ids, emails and phone numbers) rather than ``/identify/``'s
        few fixed statements. One statement; call it first in the transaction."""
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT set_config('plan_cache_mode', %s, true)", [_PLAN_FOR_VALUES])

    def tables_analyze(self, *, models: list[type[Model]]) -> None:
        """For a writer that has just loaded many rows: what follows it is planned from what the
        tables hold, not from what autovacuum saw a minute or more ago. ``ANALYZE`` reads a sample
        of 30,000 rows at the default statistics target, so it takes about as long on any size."""
        quote = self.connection.ops.quote_name
        tables = ", ".join(quote(model._meta.db_table) for model in models)
        with self.connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {tables}")

    def connection_created(self, connection: BaseDatabaseWrapper) -> None:
        """A connection opened during an operator's command (after a lost connection) gets the
        command's settings, not only its startup options' request bounds."""
        if getattr(connection, "operator_session", False):
            _set_operator_settings(connection)


def _pooled() -> bool:
    """Whether connections go through a pooler in transaction mode: nothing is prepared, so the
    hot statements run as functions (``StatementFunction``), and nothing is set on a session."""
    return settings.DATABASE_POOL_MODE == "transaction"


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
