"""SQL statements per /identify/ request: a small constant, whatever the size of the clusters.

The test database wraps each test in a transaction, so the service's transaction shows up as a
SAVEPOINT / RELEASE pair here: they stand in for BEGIN / COMMIT in these counts.
"""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.rules import Outcome
from contacts.selectors.governance import current_policy, governance_token

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_size_limit(settings):
    """The clusters here grow past IDENTITY_MAX_CLUSTER_SIZE's default: writes into them would be
    held (test_governance.py), not the outcomes counted here. The process's copy of the
    governance decisions is loaded first, as a serving process has it after its first request
    (an earlier test's copy may be of decisions its rolled-back transaction made)."""
    settings.IDENTITY_MAX_CLUSTER_SIZE = 0
    current_policy(token=governance_token())


# Statements per outcome, BEGIN and COMMIT included (SPEC §5, docs/concurrency.md). On PostgreSQL
# the advisory and row locks are one statement, and the re-read under the locks, the writes and
# their history another; SQLite re-reads, then writes (a merge re-links the demoted primaries and
# their secondaries in two updates), then appends the history. Each read also reads the governance
# token (docs/governance.md) in the same statement.
BUDGETS = {
    "postgresql": {
        Outcome.UNCHANGED: 1,
        Outcome.NEW_PRIMARY: 5,
        Outcome.NEW_SECONDARY: 5,
        Outcome.MERGE: 5,
    },
    "sqlite": {
        Outcome.UNCHANGED: 1,
        Outcome.NEW_PRIMARY: 6,
        Outcome.NEW_SECONDARY: 6,
        Outcome.MERGE: 8,
    },
}


@pytest.fixture
def cluster(make_contact):
    """A cluster of ``size`` contacts sharing ``phone``, each with its own email."""

    def create(*, size: int, phone: str, tag: str) -> None:
        primary = make_contact(email=f"{tag}0@example.com", phone=phone)
        for index in range(1, size):
            make_contact(email=f"{tag}{index}@example.com", phone=phone, linked=primary)

    return create


@pytest.fixture
def count_statements(identify):
    def count(**request) -> int:
        with CaptureQueriesContext(connection) as captured:
            identify(**request)
        return len(captured.captured_queries)

    return count


def statements_per_outcome(*, size: int, cluster, count_statements) -> dict[Outcome, int]:
    """Counts for one request of each outcome against clusters of ``size`` contacts."""
    cluster(size=size, phone=f"{size}111", tag=f"a{size}.")
    cluster(size=size, phone=f"{size}222", tag=f"b{size}.")
    return {
        Outcome.UNCHANGED: count_statements(phone=f"{size}111"),
        Outcome.NEW_PRIMARY: count_statements(email=f"new{size}@example.com", phone=f"{size}333"),
        Outcome.NEW_SECONDARY: count_statements(
            email=f"more{size}@example.com", phone=f"{size}111"
        ),
        Outcome.MERGE: count_statements(email=f"a{size}.0@example.com", phone=f"{size}222"),
    }


@pytest.mark.parametrize("size", [1, 200])
def test_statements_stay_within_budget(size, cluster, count_statements):
    counts = statements_per_outcome(size=size, cluster=cluster, count_statements=count_statements)

    budget = BUDGETS[connection.vendor]
    over_budget = {outcome: n for outcome, n in counts.items() if n > budget[outcome]}
    assert not over_budget, counts


def test_statements_do_not_grow_with_the_cluster(cluster, count_statements):
    small = statements_per_outcome(size=1, cluster=cluster, count_statements=count_statements)
    large = statements_per_outcome(size=200, cluster=cluster, count_statements=count_statements)

    assert small == large
    assert small[Outcome.UNCHANGED] == 1, "a lookup is answered by one statement"


@pytest.mark.skipif(
    connection.vendor != "sqlite", reason="SQLite's query plans; PostgreSQL's: test_plan_caching.py"
)
@pytest.mark.parametrize("size", [1, 200])
def test_no_statement_of_identify_reads_a_table_whole_on_sqlite(size, cluster, count_statements):
    """Every statement of every outcome finds its rows through an index (SQLite's query plan
    has no ``SCAN`` of a table): a request costs the same in a table of ten or a million rows."""
    sent = []

    def record(execute, sql, params, many, context):
        sent.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        statements_per_outcome(size=size, cluster=cluster, count_statements=count_statements)
    scans = {}
    with connection.cursor() as cursor:
        for sql, params in sent:
            if sql.lstrip().split(None, 1)[0].upper() in {"SAVEPOINT", "RELEASE", "ROLLBACK"}:
                continue
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            details = [row[3] for row in cursor.fetchall()]
            table_scans = [d for d in details if re.match(r"SCAN contacts_", d)]
            if table_scans:
                scans[sql] = table_scans
    assert sent
    assert not scans, scans


@pytest.mark.postgres
@pytest.mark.direct
def test_the_hot_statements_are_prepared_with_one_generic_plan(identify):
    """PostgreSQL parses and plans /identify/'s statements once per connection, not per request.

    Django leaves psycopg's preparation off unless ``prepare_threshold`` is set, and PostgreSQL
    keeps planning a prepared statement per execution while it prefers custom plans.
    """
    for index in range(12):
        identify(email=f"prepared{index}@example.com", phone=f"777{index}")

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements")
        prepared = cursor.fetchall()
    reads = [row for row in prepared if "roots AS" in row[0] and "unchanged AS" not in row[0]]
    writes = [row for row in prepared if "unchanged AS" in row[0]]
    locks = [row for row in prepared if "pg_advisory_xact_lock" in row[0]]

    assert reads, "the cluster read is not prepared"
    assert writes, "the write statement is not prepared"
    assert locks, "the lock statement is not prepared"
    assert all(custom == 0 and generic > 0 for _, generic, custom in reads + writes + locks)
