"""Plans that a connection keeps are made for the contacts table as it is, not as it was.

Request connections keep one generic plan per prepared statement. On a new deployment those plans
were made on the empty table, read it (or a live partial index) whole, and were kept while the
table grew: half the throughput until autovacuum's first ANALYZE. While the table is small, a new
connection now ANALYZEs it whenever it has doubled, which makes every connection plan again
(``contacts.database.statistics_follow_growth``).
"""

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, connections, transaction
from psycopg import sql

from contacts.database import FOLLOWED_CONTACTS, SMALL_TABLE_CONNECTION_SECONDS
from contacts.services import contact_identify

pytestmark = pytest.mark.postgres

CONTACTS = "contacts_contact"
SCAN_OF_CONTACTS = re.compile(
    r"(Seq Scan on contacts_contact|(Index|Index Only|Bitmap Index) Scan (Backward )?using "
    r"(contact_live_\w+|contacts_contact_pkey))"
)


def whole_table_scans(plan: list[str]) -> list[str]:
    """The plan's nodes that read the contacts table, or one of its indexes, whole."""
    found = []
    for index, line in enumerate(plan):
        if not SCAN_OF_CONTACTS.search(line):
            continue
        details = []
        for detail in plan[index + 1 :]:
            if "->" in detail:
                break
            details.append(detail)
        if "Seq Scan" in line or not any("Index Cond" in detail for detail in details):
            found.append(line.strip())
    return found


def grow_contacts(*, to: int) -> None:
    """Add clusters of a primary and a secondary until the table holds ``to`` contacts."""
    with connection.cursor() as cursor:
        while True:
            cursor.execute(f"SELECT count(*) FROM {CONTACTS}")
            if cursor.fetchone()[0] >= to:
                return
            cursor.execute(
                f"""
                WITH primaries AS (
                    INSERT INTO {CONTACTS} (email, phone_number, link_precedence)
                    SELECT 'grown' || n || '.' || random() || '@example.com',
                           '+44' || (random() * 1e10)::bigint, 'primary'
                    FROM generate_series(1, 200) AS n
                    RETURNING id, phone_number
                )
                INSERT INTO {CONTACTS} (email, phone_number, linked_id, link_precedence)
                SELECT 'second' || id || '@example.com', phone_number, id, 'secondary'
                FROM primaries
                """
            )


def analyze_count() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = %s", [CONTACTS]
        )
        return cursor.fetchone()[0]


@pytest.fixture
def without_autovacuum() -> Iterator[None]:
    """An empty contacts table, whose size grows with its rows (no dead rows of earlier tests),
    and that autovacuum leaves alone, so that every ANALYZE the test sees is the service's."""
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {CONTACTS} CASCADE")
        cursor.execute(f"ALTER TABLE {CONTACTS} SET (autovacuum_enabled = false)")
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {CONTACTS} RESET (autovacuum_enabled)")


def new_connection() -> Any:
    """A second connection to the test database, as a new gunicorn thread would open."""
    other = connections.create_connection("default")
    other.ensure_connection()
    return other


# --- The plans of /identify/'s statements ---------------------------------------------------------


def prepare_text(statement: str, params: dict | list) -> tuple[str, list]:
    """``statement`` with ``$n`` placeholders for ``PREPARE``, and its values in order."""
    if isinstance(params, dict):
        names: list[str] = []

        def number(match: re.Match) -> str:
            if match[1] not in names:
                names.append(match[1])
            return f"${names.index(match[1]) + 1}"

        text = re.sub(r"%\((\w+)\)s", number, statement)
        values = [params[name] for name in names]
    else:
        counter = iter(range(1, len(params) + 1))
        text = re.sub(r"%s", lambda _: f"${next(counter)}", statement)
        values = list(params)
    return text.replace("%%", "%"), values


def generic_plan(statement: str, params: dict | list) -> list[str]:
    """The generic plan PostgreSQL makes for ``statement`` from the table's current statistics."""
    text, values = prepare_text(statement, params)
    raw = connection.connection
    arguments = sql.SQL(", ").join(sql.Literal(value) for value in values)
    with transaction.atomic():
        raw.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        raw.execute(sql.SQL("PREPARE probe AS ") + sql.SQL(text))
        try:
            rows = raw.execute(sql.SQL("EXPLAIN EXECUTE probe({})").format(arguments)).fetchall()
        finally:
            raw.execute("DEALLOCATE probe")
    return [row[0] for row in rows]


def hot_statements(*, email: str, phone_number: str) -> dict[str, tuple[str, Any]]:
    """The read, the lock and the write statement of one ``/identify/`` request, not committed."""
    captured: dict[str, tuple[str, Any]] = {}

    def capture(execute, statement, params, many, context):
        if "unchanged AS" in statement:
            captured["write"] = (statement, params)
        elif "FOR NO KEY UPDATE" in statement:
            captured["lock"] = (statement, params)
        elif "wanted AS" in statement:
            captured.setdefault("read", (statement, params))
        return execute(statement, params, many, context)

    with connection.execute_wrapper(capture), transaction.atomic():
        contact_identify(email=email, phone_number=phone_number)
        transaction.set_rollback(True)
    return captured


@pytest.mark.django_db
def test_plans_made_from_statistics_of_half_the_followed_contacts_read_no_table_whole(
    make_contact,
):
    older = make_contact(email="older@example.com", phone="1000")
    make_contact(email="newer@example.com", phone="2000")
    grow_contacts(to=FOLLOWED_CONTACTS // 2)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {CONTACTS}")

    statements = hot_statements(email=older.email, phone_number="2000")

    assert set(statements) == {"read", "lock", "write"}, "not a merge"
    scans = {
        name: whole_table_scans(generic_plan(*statement)) for name, statement in statements.items()
    }
    assert scans == {"read": [], "lock": [], "write": []}


@pytest.mark.django_db(transaction=True)
def test_a_plan_kept_from_the_empty_table_is_made_again_once_the_table_has_doubled(
    without_autovacuum,
):
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {CONTACTS}")
    for attempt in range(8):
        contact_identify(email=None, phone_number=f"+44{attempt}")
    [(name, parameter_types)] = prepared_reads()

    def kept_plan() -> list[str]:
        arguments = ", ".join(f"NULL::{kind}" for kind in parameter_types)
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN EXECUTE {name}({arguments})")
            return [row[0] for row in cursor.fetchall()]

    assert whole_table_scans(kept_plan()), "the plan made on the empty table reads it whole"
    grow_contacts(to=500)

    other = new_connection()
    other.close()

    assert whole_table_scans(kept_plan()) == []


def prepared_reads() -> list[tuple[str, list[str]]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, parameter_types::text[] FROM pg_prepared_statements "
            "WHERE statement LIKE '%%wanted AS%%' AND statement NOT LIKE '%%unchanged AS%%'"
        )
        return cursor.fetchall()


@pytest.mark.django_db(transaction=True)
def test_a_new_connection_analyzes_the_table_only_when_it_has_doubled(without_autovacuum):
    grow_contacts(to=400)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {CONTACTS}")
    before = analyze_count()

    new_connection().close()
    unchanged = analyze_count()
    grow_contacts(to=800)
    new_connection().close()

    assert unchanged == before
    assert analyze_count() == before + 1


@pytest.fixture
def without_statistics(without_autovacuum) -> None:
    """The contacts table's column statistics removed, as after a restore or a bulk load."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if not cursor.fetchone()[0]:
            pytest.skip("removing statistics needs a superuser")
        cursor.execute("DELETE FROM pg_statistic WHERE starelid = %s::regclass", [CONTACTS])


@pytest.mark.django_db(transaction=True)
def test_a_table_without_statistics_is_analyzed_whatever_its_size(without_statistics):
    grow_contacts(to=2 * FOLLOWED_CONTACTS)
    before = analyze_count()

    new_connection().close()

    assert analyze_count() == before + 1


@pytest.fixture
def slow_analyze_connection() -> Iterator[str]:
    """A connection on which every ANALYZE outlasts the statement timeout: cost-based delay."""
    default = connections["default"]
    options = {
        **default.settings_dict["OPTIONS"],
        "options": "-c statement_timeout=200 -c vacuum_cost_delay=100 -c vacuum_cost_limit=1",
    }
    slow = type(default)({**default.settings_dict, "OPTIONS": options}, alias="slow_analyze")
    connections["slow_analyze"] = slow
    yield "slow_analyze"
    slow.close()
    del connections["slow_analyze"]


@pytest.mark.django_db(transaction=True)
def test_a_failed_analyze_leaves_the_connection_serving(
    without_statistics, slow_analyze_connection, caplog
):
    grow_contacts(to=FOLLOWED_CONTACTS)
    before = analyze_count()

    with connections[slow_analyze_connection].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM contacts_contact")
        (count,) = cursor.fetchone()

    assert count > 0
    assert analyze_count() == before
    assert 'statistics of "contacts_contact" not gathered' in caplog.text


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("contacts", "replaced_soon"), [(0, True), (2 * FOLLOWED_CONTACTS, False)])
def test_connections_are_replaced_within_seconds_only_while_the_table_is_small(
    contacts, replaced_soon, without_autovacuum
):
    grow_contacts(to=contacts)

    other = new_connection()
    lifetime = other.close_at - time.monotonic()
    other.close()

    assert (lifetime <= SMALL_TABLE_CONNECTION_SECONDS) is replaced_soon
