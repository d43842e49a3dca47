"""The hand-written statements of the PostgreSQL backend (``contacts.db.postgresql``): what the
ORM would spread over several round trips, or plan worse."""

import hashlib
import re
from dataclasses import dataclass
from functools import cached_property

from contacts.models import ClusterEvent, Contact, GovernanceVersion, IdentityLink


def compact(sql: str) -> str:
    """The statement with its layout collapsed to single spaces: psycopg converts a statement's
    ``%(name)s`` placeholders once and caches the result only for statements of at most
    ``psycopg._queries.MAX_CACHED_STATEMENT_LENGTH`` (4096) characters; a longer one is parsed
    with regular expressions on every execution (contacts/tests/test_database_backend.py)."""
    return " ".join(sql.split())


@dataclass(frozen=True)
class StatementFunction:
    """A hand-written statement kept in the database as a PL/pgSQL function, for sessions that
    cannot prepare it: through a pooler in transaction mode, each statement would be planned
    again on every request (most of a lookup's PostgreSQL CPU), while a function's statements are
    planned once per server connection and kept with it, whichever client it serves next.

    The function's name carries a hash of its definition, so that a release whose statement
    differs calls its own function while the previous release's app servers still call theirs;
    ``migrate`` creates it (``DatabaseBackend.statement_functions_install``).
    https://www.postgresql.org/docs/15/plpgsql-implementation.html#PLPGSQL-PLAN-CACHING
    """

    stem: str
    statement: str
    """With ``%(name)s`` placeholders, as the statement is sent when it can be prepared."""
    parameters: dict[str, str]
    """Each placeholder's SQL type, in the function's order."""
    returns: str
    """The columns of the statement's rows, as ``RETURNS TABLE`` declares them."""
    volatility: str = "VOLATILE"

    @cached_property
    def body(self) -> str:
        return re.sub(r"%\((\w+)\)s", r"p_\1", self.statement)

    @cached_property
    def name(self) -> str:
        signature = f"{self.parameters}{self.returns}{self.volatility}{self.body}"
        return f"bitespeed_{self.stem}_{hashlib.sha256(signature.encode()).hexdigest()[:12]}"

    @cached_property
    def definition(self) -> str:
        arguments = ", ".join(f"p_{name} {kind}" for name, kind in self.parameters.items())
        # The function's columns are its OUT parameters: use_column reads a name that is also a
        # table's column as the column, as the statement means it. Generic plans, as prepared
        # statements get (settings: plan_cache_mode), so that the plan is made once.
        return (
            f"CREATE OR REPLACE FUNCTION {self.name}({arguments}) "
            f"RETURNS TABLE ({self.returns}) LANGUAGE plpgsql {self.volatility} "
            "SET plan_cache_mode = force_generic_plan "
            f"AS $body$ #variable_conflict use_column\nBEGIN RETURN QUERY {self.body}; END $body$"
        )

    @cached_property
    def call(self) -> str:
        """The statement that runs the function, with the same placeholders as ``statement``."""
        arguments = ", ".join(f"%({name})s::{kind}" for name, kind in self.parameters.items())
        return f"SELECT * FROM {self.name}({arguments})"


_CONTACTS = Contact._meta.db_table
_LINKS = IdentityLink._meta.db_table
_EVENTS = ClusterEvent._meta.db_table

# The token of the stored governance decisions (0 when none were ever made): read by /identify/'s
# statements so that each process knows, without a statement of its own, whether its copy of the
# blocklist is current (docs/governance.md).
GOVERNANCE_TOKEN = f"""
    COALESCE((SELECT token FROM {GovernanceVersion._meta.db_table} WHERE id = 1), 0)
"""

# The live contacts of every cluster that holds %(match_email)s or %(match_phone_number)s (the
# request's values that are not blocked), or an identifier that a link record that is not blocked
# pairs with one of them (SPEC §3: that edge counts as soon as both identifiers are on live
# contacts). Used by ``cluster_rows`` and by ``apply_if_unchanged``, which checks, in the same
# statement as its write, that the clusters are still what the plan was made from.
#
# Written so that its only plan is index look-ups, whatever the planner knows of the table: each
# look-up is an equality on one value inside a LATERAL subquery, so scanning the table instead
# would be paid once per value. The plan is made once per connection and kept (settings:
# plan_cache_mode), possibly while the table is empty and has no statistics; with the look-ups
# ORed together, such a plan read the whole table, or its live partial index, on every request.
PG_CLUSTER_CTE = f"""
    wanted AS (
        SELECT %(match_email)s::varchar AS email, NULL::varchar AS phone_number
        UNION ALL SELECT NULL, %(match_phone_number)s::varchar
        UNION ALL SELECT email, NULL FROM {_LINKS}
        WHERE phone_number = %(match_phone_number)s::varchar AND NOT blocked
        UNION ALL SELECT NULL, phone_number FROM {_LINKS}
        WHERE email = %(match_email)s::varchar AND NOT blocked
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

# The rows of the matched clusters, after a first row that carries the governance token in its
# email column (its created_at is NULL, so it sorts first): the token is read even when nothing
# matched, and the contacts' rows need no column of their own for it. A column on every row, or
# another sort key, cost several times more on a cluster of 10,000 (bench/RESULTS.md).
CLUSTER_ROWS_SQL = compact(f"""
    WITH {PG_CLUSTER_CTE}
    SELECT id, email, phone_number, linked_id, created_at FROM (
        SELECT NULL::bigint AS id, ({GOVERNANCE_TOKEN})::text AS email,
               NULL::varchar AS phone_number, NULL::bigint AS linked_id,
               NULL::timestamptz AS created_at
        UNION ALL
        SELECT id, email, phone_number, linked_id, created_at FROM cluster
    ) AS read
    ORDER BY created_at NULLS FIRST, id
""")
CLUSTER_ROWS_FUNCTION = StatementFunction(
    stem="cluster_rows",
    statement=CLUSTER_ROWS_SQL,
    parameters={"match_email": "varchar", "match_phone_number": "varchar"},
    returns="id bigint, email text, phone_number varchar, linked_id bigint, created_at timestamptz",
    volatility="STABLE",
)


# What /identify/'s write statement reports of the contacts table, so that following its growth
# costs no statement of its own: its size now, its size and its rows when last counted.
TABLE_GROWTH_COLUMNS = f"""
    pg_relation_size('{_CONTACTS}'::regclass),
    (SELECT relpages * current_setting('block_size')::bigint FROM pg_class
     WHERE oid = '{_CONTACTS}'::regclass),
    (SELECT reltuples FROM pg_class WHERE oid = '{_CONTACTS}'::regclass)
"""


# One statement that checks, with a snapshot taken after the locks are held, that the matched
# clusters are still exactly the rows the plan was made from, and only then writes the plan and its
# history (as ``SQLiteBackend.apply_if_unchanged`` does with the ORM): the re-read under the
# locks, the writes and the history share one round trip, and nothing is read back.
APPLY_IF_UNCHANGED_SQL = compact(f"""
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
        ) = %(state)s::jsonb AND {GOVERNANCE_TOKEN} = %(token)s::bigint AS yes
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
                   'winner', %(primary_id)s::bigint, 'loser', loser, 'request', %(request)s::jsonb,
                   'bridged_by', %(bridged_by)s::jsonb -> loser::text
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
""")
APPLY_IF_UNCHANGED_FUNCTION = StatementFunction(
    stem="apply_if_unchanged",
    statement=APPLY_IF_UNCHANGED_SQL,
    parameters={
        "match_email": "varchar",
        "match_phone_number": "varchar",
        "state": "jsonb",
        "token": "bigint",
        "primary_id": "bigint",
        "demoted_ids": "bigint[]",
        "demotes": "boolean",
        "email": "varchar",
        "phone_number": "varchar",
        "source": "varchar",
        "stores_link": "boolean",
        "precedence": "varchar",
        "creates": "boolean",
        "merged_kind": "varchar",
        "request": "jsonb",
        "bridged_by": "jsonb",
        "creation_kind": "varchar",
    },
    returns=(
        "unchanged boolean, id bigint, created_at timestamptz, table_bytes bigint, "
        "counted_bytes bigint, counted real"
    ),
)
STATEMENT_FUNCTIONS = (CLUSTER_ROWS_FUNCTION, APPLY_IF_UNCHANGED_FUNCTION)


# The history of an import, grouped by the database from the rows just inserted.
IMPORT_HISTORY_SQL = compact(f"""
    INSERT INTO {_EVENTS} (kind, source, contact_id, primary_id, details, created_at)
    SELECT CASE WHEN min(id) = root THEN %(created)s ELSE %(added)s END, %(source)s, min(id), root,
           jsonb_build_object('import', %(label)s::text, 'contacts', jsonb_agg(id ORDER BY id)),
           %(now)s
    FROM (SELECT id, COALESCE(linked_id, id) AS root FROM {_CONTACTS} WHERE id = ANY(%(ids)s))
         AS imported
    GROUP BY root
    ORDER BY min(id)
""")


# The history's last id and the horizon of the transactions (docs/events.md): every transaction
# below xmin has ended; every one that starts later gets an id of at least xmax.
HISTORY_HORIZON_SQL = compact(f"""
    SELECT COALESCE(pg_sequence_last_value(pg_get_serial_sequence('{_EVENTS}', 'id')), 0),
           pg_snapshot_xmin(pg_current_snapshot())::text::bigint,
           pg_snapshot_xmax(pg_current_snapshot())::text::bigint
""")
