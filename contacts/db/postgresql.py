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
from psycopg.types.datetime import TimestamptzLoader

from contacts.db.base import Applied, DatabaseBackend
from contacts.models import ClusterEvent, Contact, EventKind, IdentityLink, LinkPrecedence, Source
from contacts.rows import ContactRow
from contacts.rules import IdentifyPlan

logger = logging.getLogger(__name__)

_CONTACTS = Contact._meta.db_table
_LINKS = IdentityLink._meta.db_table
_EVENTS = ClusterEvent._meta.db_table

# The live contacts of every cluster that holds %(email)s or %(phone_number)s, or an identifier
# that a link record pairs with one of them (``contacts.selectors.clusters.identifiers_filter``
# says why). Used by ``cluster_rows`` and by ``apply_if_unchanged``, which checks, in the same
# statement as its write, that the clusters are still what the plan was made from.
#
# Written so that its only plan is index look-ups, whatever the planner knows of the table: each
# look-up is an equality on one value inside a LATERAL subquery, so scanning the table instead
# would be paid once per value. The plan is made once per connection and kept (settings:
# plan_cache_mode), possibly while the table is empty and has no statistics; with the look-ups
# ORed together, such a plan read the whole table, or its live partial index, on every request.
PG_CLUSTER_CTE = f"""
    wanted AS (
        SELECT %(email)s::varchar AS email, NULL::varchar AS phone_number
        UNION ALL SELECT NULL, %(phone_number)s::varchar
        UNION ALL SELECT email, NULL FROM {_LINKS} WHERE phone_number = %(phone_number)s::varchar
        UNION ALL SELECT NULL, phone_number FROM {_LINKS} WHERE email = %(email)s::varchar
    ),
    roots AS MATERIALIZED (
        SELECT ARRAY(
            SELECT DISTINCT COALESCE(matched.linked_id, matched.id)
            FROM wanted, LATERAL (
                SELECT id, linked_id FROM {_CONTACTS}
                WHERE deleted_at IS NULL AND email = wanted.email
                UNION ALL
                SELECT id, linked_id FROM {_CONTACTS}
                WHERE deleted_at IS NULL AND phone_number = wanted.phone_number
            ) AS matched
        ) AS ids
    ),
    cluster AS (
        SELECT member.* FROM roots, unnest(roots.ids) AS root(id), LATERAL (
            SELECT * FROM {_CONTACTS} WHERE deleted_at IS NULL AND id = root.id
            UNION ALL
            SELECT * FROM {_CONTACTS}
            WHERE deleted_at IS NULL AND linked_id = root.id AND id <> ALL(roots.ids)
        ) AS member
    )
"""

_PG_CLUSTER_ROWS_SQL = f"""
    WITH {PG_CLUSTER_CTE}
    SELECT id, email, phone_number, linked_id, created_at FROM cluster ORDER BY created_at, id
"""


# Up to this many contacts, as the last ANALYZE or VACUUM counted them, the contacts table's
# statistics are gathered whenever a write finds it has doubled in size since: a plan made from the
# statistics of a few pages reads the table whole. Plans made from the statistics of half as many
# contacts are index look-ups, which stay the cheapest however large the table grows
# (contacts/tests/test_plan_caching.py checks them).
FOLLOWED_CONTACTS = 5_000

# What /identify/'s write statement reports of the contacts table, so that following its growth
# costs no statement of its own: its size now, its size and its rows when last counted.
TABLE_GROWTH_COLUMNS = f"""
    pg_relation_size('{_CONTACTS}'::regclass),
    (SELECT relpages * current_setting('block_size')::bigint FROM pg_class
     WHERE oid = '{_CONTACTS}'::regclass),
    (SELECT reltuples FROM pg_class WHERE oid = '{_CONTACTS}'::regclass)
"""
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


# One statement that checks, with a snapshot taken after the locks are held, that the matched
# clusters are still exactly the rows the plan was made from, and only then writes the plan and its
# history (as ``SQLiteBackend.apply_if_unchanged`` does with the ORM): the re-read under the
# locks, the writes and the history share one round trip, and nothing is read back.
_APPLY_IF_UNCHANGED_SQL = f"""
    WITH {PG_CLUSTER_CTE},
    unchanged AS (
        SELECT COALESCE(
            jsonb_agg(
                jsonb_build_array(
                    id, linked_id, email, phone_number,
                    (EXTRACT(EPOCH FROM created_at) * 1000000)::bigint
                )
                ORDER BY id
            ),
            '[]'
        ) = %(state)s::jsonb AS yes
        FROM cluster
    ),
    relinked AS (
        UPDATE {_CONTACTS}
        SET linked_id = %(primary_id)s::bigint, link_precedence = 'secondary',
            updated_at = STATEMENT_TIMESTAMP()
        WHERE (SELECT yes FROM unchanged)
          AND deleted_at IS NULL
          AND (id = ANY(%(demoted_ids)s::bigint[]) OR linked_id = ANY(%(demoted_ids)s::bigint[]))
          AND id <> %(primary_id)s::bigint
    ),
    promoted AS (
        UPDATE {_CONTACTS}
        SET linked_id = NULL, link_precedence = 'primary', updated_at = STATEMENT_TIMESTAMP()
        WHERE (SELECT yes FROM unchanged)
          AND %(demotes)s AND id = %(primary_id)s::bigint AND linked_id IS NOT NULL
    ),
    observed AS (
        INSERT INTO {_LINKS} (email, phone_number, source)
        SELECT %(email)s::varchar, %(phone_number)s::varchar, %(source)s::varchar
        WHERE (SELECT yes FROM unchanged) AND %(stores_link)s
        ON CONFLICT DO NOTHING
    ),
    created AS (
        INSERT INTO {_CONTACTS} (email, phone_number, linked_id, link_precedence)
        SELECT %(email)s::varchar, %(phone_number)s::varchar, %(primary_id)s::bigint,
               %(precedence)s::varchar
        WHERE (SELECT yes FROM unchanged) AND %(creates)s
        RETURNING id, created_at
    ),
    merge_events AS (
        INSERT INTO {_EVENTS} (kind, source, contact_id, primary_id, details)
        SELECT %(merged_kind)s::varchar, %(source)s::varchar, loser, %(primary_id)s::bigint,
               jsonb_build_object(
                   'winner', %(primary_id)s::bigint, 'loser', loser, 'request', %(request)s::jsonb
               )
        FROM unnest(%(demoted_ids)s::bigint[]) AS loser
        WHERE (SELECT yes FROM unchanged)
    ),
    creation_event AS (
        INSERT INTO {_EVENTS} (kind, source, contact_id, primary_id, details)
        SELECT %(creation_kind)s::varchar, %(source)s::varchar, created.id,
               COALESCE(%(primary_id)s::bigint, created.id),
               jsonb_build_object('request', %(request)s::jsonb)
        FROM created
    )
    SELECT unchanged.yes, created.id, created.created_at, {TABLE_GROWTH_COLUMNS}
    FROM unchanged LEFT JOIN created ON TRUE
"""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _state(rows: list[ContactRow]) -> str:
    """The rows as ``_APPLY_IF_UNCHANGED_SQL`` aggregates the clusters it reads, for comparison."""
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


# The history of an import, grouped by the database from the rows just inserted.
_IMPORT_HISTORY_SQL = f"""
    INSERT INTO {_EVENTS} (kind, source, contact_id, primary_id, details, created_at)
    SELECT CASE WHEN min(id) = root THEN %(created)s ELSE %(added)s END, %(source)s, min(id), root,
           jsonb_build_object('import', %(label)s::text, 'contacts', jsonb_agg(id ORDER BY id)),
           %(now)s
    FROM (SELECT id, COALESCE(linked_id, id) AS root FROM {_CONTACTS} WHERE id = ANY(%(ids)s))
         AS imported
    GROUP BY root
    ORDER BY min(id)
"""


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

    def cluster_rows(self, *, email: str | None, phone_number: str | None) -> list[ContactRow]:
        """One hand-written statement (``PG_CLUSTER_CTE``), whatever the size of the clusters;
        plain rows, no model instances: the hot path of ``/identify/``."""
        with self.connection.cursor() as cursor:
            load_datetimes_in_c(cursor)
            cursor.execute(_PG_CLUSTER_ROWS_SQL, {"email": email, "phone_number": phone_number})
            return list(map(ContactRow._make, cursor.fetchall()))

    def apply_if_unchanged(self, *, plan: IdentifyPlan, source: Source) -> Applied | None:
        """The check, the writes and the history in one statement (``_APPLY_IF_UNCHANGED_SQL``)."""
        primary = plan.primary
        params = {
            "email": plan.email,
            "phone_number": plan.phone_number,
            "state": _state(plan.rows),
            "primary_id": primary.id if primary else None,
            "demoted_ids": plan.demoted_ids,
            "demotes": bool(plan.demoted_ids) and primary.linked_id is not None,
            "stores_link": plan.stores_link,
            "source": source.value,
            "creates": plan.creates_contact,
            "precedence": LinkPrecedence.SECONDARY if primary else LinkPrecedence.PRIMARY,
            "request": json.dumps({"email": plan.email, "phone_number": plan.phone_number}),
            "merged_kind": EventKind.MERGED.value,
            "creation_kind": (
                EventKind.SECONDARY_ADDED if primary else EventKind.PRIMARY_CREATED
            ).value,
        }
        with self.connection.cursor() as cursor:
            load_datetimes_in_c(cursor)
            cursor.execute(_APPLY_IF_UNCHANGED_SQL, params)
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
                _IMPORT_HISTORY_SQL,
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
        lock the API holds gives up as a request would.
        """
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
