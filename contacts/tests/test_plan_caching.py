"""Plans that a connection keeps are made for the contacts table as it is, not as it was.

Request connections keep one generic plan per prepared statement. On a new deployment those plans
were made on the empty table, read it (or a live partial index) whole, and were kept while the
table grew: half the throughput until autovacuum's first ANALYZE. While the table is small, a write
that finds it has doubled since its statistics now ANALYZEs it once it commits, which makes every
connection plan again (``contacts.db.postgresql``).
"""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import override_settings
from psycopg import sql

from contacts.db.postgresql import FOLLOWED_CONTACTS
from contacts.models import Contact
from contacts.services.identify import contact_identify

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
    """The read, the lock and the write statement of one ``/identify/`` request, not committed.

    Sent as statements even through a pooler in transaction mode, which calls them as functions
    holding the same statements with the same generic plans (``StatementFunction``): a plan is
    examined from the statement's text.
    """
    captured: dict[str, tuple[str, Any]] = {}

    def capture(execute, statement, params, many, context):
        if "unchanged AS" in statement:
            captured["write"] = (statement, params)
        elif "FOR NO KEY UPDATE" in statement:
            captured["lock"] = (statement, params)
        elif "wanted AS" in statement:
            captured.setdefault("read", (statement, params))
        return execute(statement, params, many, context)

    with (
        override_settings(DATABASE_POOL_MODE="session"),
        connection.execute_wrapper(capture),
        transaction.atomic(),
    ):
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


@pytest.mark.direct
@pytest.mark.django_db(transaction=True)
def test_a_plan_kept_from_the_empty_table_is_made_again_once_a_write_has_doubled_the_table(
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
    assert whole_table_scans(kept_plan()), "a plan is kept while the table grows"

    contact_identify(email="grown@example.com", phone_number="+449")

    assert whole_table_scans(kept_plan()) == []


def prepared_reads() -> list[tuple[str, list[str]]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, parameter_types::text[] FROM pg_prepared_statements "
            "WHERE statement LIKE '%%wanted AS%%' AND statement NOT LIKE '%%unchanged AS%%'"
        )
        return cursor.fetchall()


@pytest.mark.django_db(transaction=True)
def test_a_write_analyzes_the_table_only_once_it_has_doubled(without_autovacuum):
    grow_contacts(to=400)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {CONTACTS}")
    before = analyze_count()

    contact_identify(email="first@example.com", phone_number="+441")
    contact_identify(email="first@example.com", phone_number="+445")
    not_doubled = analyze_count()
    grow_contacts(to=800)
    contact_identify(email="second@example.com", phone_number="+442")

    assert not_doubled == before
    assert analyze_count() == before + 1


@pytest.mark.django_db(transaction=True)
def test_statistics_of_the_followed_contacts_are_not_followed_further(without_autovacuum):
    grow_contacts(to=FOLLOWED_CONTACTS)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {CONTACTS}")
    grow_contacts(to=2 * FOLLOWED_CONTACTS + 500)
    before = analyze_count()

    contact_identify(email="late@example.com", phone_number="+443")

    assert analyze_count() == before


@pytest.mark.django_db(transaction=True)
def test_a_write_whose_analyze_fails_is_answered_all_the_same(without_autovacuum, caplog):
    grow_contacts(to=400)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {CONTACTS}")
    grow_contacts(to=800)
    before = analyze_count()
    with connection.cursor() as cursor:
        # Cost-based delay: the ANALYZE sleeps past the statement timeout.
        cursor.execute(
            "SELECT set_config('vacuum_cost_delay', '100', false), "
            "set_config('vacuum_cost_limit', '1', false), "
            "set_config('statement_timeout', '200', false)"
        )
    try:
        identity = contact_identify(email="slow@example.com", phone_number="+444")
    finally:
        connection.close()

    assert Contact.objects.filter(id=identity.primary_id, email="slow@example.com").exists()
    assert analyze_count() == before
    assert "statistics of contacts_contact not gathered" in caplog.text
