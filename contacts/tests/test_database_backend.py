"""The contract of ``contacts.db``: the same cases against whichever database the suite runs on.

A write checks that the clusters are still what its plan was read from, and writes nothing if they
moved (docs/concurrency.md, step 3): ``contact_identify`` plans from a read made before its locks
(on PostgreSQL) or before its ``BEGIN IMMEDIATE`` (on SQLite). These tests change the clusters
between the read and the write, as a concurrent request would. The bulk operations of an import
give the same result on both databases.
"""

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from django.db import connection
from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH

from contacts.db import backend, postgresql_statements
from contacts.models import ClusterEvent, Contact, EventKind, IdentityLink, LinkPrecedence, Source
from contacts.rules import IdentifyPlan, Identity, Outcome
from contacts.services.identify import _plan, answer

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["statements", "functions"])
def hot_statements(request, settings):
    """PostgreSQL's hot statements as a direct connection sends them, and as the functions that a
    pooler in transaction mode calls (``StatementFunction``): the same contract."""
    if request.param == "functions":
        if connection.vendor != "postgresql":
            pytest.skip("the hot statements' functions are PostgreSQL's")
        settings.DATABASE_POOL_MODE = "transaction"
    return request.param


def _apply_if_unchanged(*, plan: IdentifyPlan, source: Source) -> Identity | None:
    """The backend's write, and the answer ``contact_identify`` builds from it."""
    applied = backend().apply_if_unchanged(plan=plan, source=source)
    return None if applied is None else answer(plan=plan, applied=applied)


@pytest.mark.usefixtures("hot_statements")
def test_an_unchanged_cluster_gets_the_planned_secondary(make_contact):
    primary = make_contact(email="a@example.com", phone="1000")
    plan = _plan(email="b@example.com", phone_number="1000")

    identity = _apply_if_unchanged(plan=plan, source=Source.API)

    new = Contact.objects.get(email="b@example.com")
    assert new.linked_id == primary.id
    assert new.link_precedence == LinkPrecedence.SECONDARY
    assert identity.outcome is Outcome.NEW_SECONDARY
    assert identity.primary_id == primary.id
    assert identity.emails == ["a@example.com", "b@example.com"]
    assert identity.secondary_ids == [new.id]


@pytest.mark.usefixtures("hot_statements")
def test_a_secondary_added_since_the_read_stops_the_write(make_contact):
    primary = make_contact(email="a@example.com", phone="1000")
    plan = _plan(email="b@example.com", phone_number="1000")
    make_contact(email="b@example.com", phone="1000", linked=primary)

    assert _apply_if_unchanged(plan=plan, source=Source.API) is None

    assert Contact.objects.filter(email="b@example.com").count() == 1


@pytest.mark.usefixtures("hot_statements")
def test_a_contact_created_since_the_read_stops_a_new_primary(make_contact):
    plan = _plan(email="new@example.com", phone_number="2000")
    make_contact(email="other@example.com", phone="2000")

    assert _apply_if_unchanged(plan=plan, source=Source.API) is None

    assert not Contact.objects.filter(email="new@example.com").exists()


@pytest.mark.usefixtures("hot_statements")
def test_a_cluster_changed_since_the_read_stops_the_merge(make_contact):
    older = make_contact(email="a@example.com", phone="1000")
    newer = make_contact(email="b@example.com", phone="2000")
    plan = _plan(email="a@example.com", phone_number="2000")
    assert plan.outcome is Outcome.MERGE
    make_contact(email="c@example.com", phone="2000", linked=newer)

    assert _apply_if_unchanged(plan=plan, source=Source.API) is None

    newer.refresh_from_db()
    assert newer.link_precedence == LinkPrecedence.PRIMARY
    assert not IdentityLink.objects.exists()
    assert older.secondaries.count() == 0


@pytest.mark.usefixtures("hot_statements")
def test_an_unchanged_pair_of_clusters_is_merged_into_the_older(make_contact):
    older = make_contact(email="a@example.com", phone="1000")
    newer = make_contact(email="b@example.com", phone="2000")
    plan = _plan(email="a@example.com", phone_number="2000")

    identity = _apply_if_unchanged(plan=plan, source=Source.API)

    newer.refresh_from_db()
    assert newer.linked_id == older.id
    assert newer.link_precedence == LinkPrecedence.SECONDARY
    assert IdentityLink.objects.filter(email="a@example.com", phone_number="2000").exists()
    assert identity.primary_id == older.id
    assert identity.phone_numbers == ["1000", "2000"]
    assert identity.secondary_ids == [newer.id]


@pytest.mark.usefixtures("hot_statements")
def test_cluster_rows_hold_every_cluster_an_identifier_or_a_link_record_reaches(make_contact):
    first = make_contact(email="a@example.com", phone="1000")
    second = make_contact(email="b@example.com", phone="1000", linked=first)
    other = make_contact(email="c@example.com", phone="2000")
    make_contact(email="d@example.com", phone="3000")
    IdentityLink.objects.create(email="a@example.com", phone_number="2000")

    rows, _ = backend().cluster_rows(email="a@example.com", phone_number=None)

    assert [row.id for row in rows] == [first.id, second.id, other.id]
    assert rows[1].linked_id == first.id


def test_reserved_contact_ids_ascend_after_every_stored_one(make_contact):
    stored = make_contact(email="a@example.com", phone="1000")

    ids = backend().reserve_contact_ids(count=3)

    assert ids == sorted(ids)
    assert len(set(ids)) == 3
    assert min(ids) > stored.id


def test_bulk_insert_and_import_history_record_each_cluster_once(make_contact):
    stored = make_contact(email="a@example.com", phone="1000")
    db = backend()
    first, second, third = db.reserve_contact_ids(count=3)
    now = datetime(2024, 1, 1, tzinfo=UTC)
    rows = [
        (first, "n1@example.com", "5000", None, LinkPrecedence.PRIMARY.value, now, now),
        (second, "n2@example.com", "5000", first, LinkPrecedence.SECONDARY.value, now, now),
        (third, "n3@example.com", "1000", stored.id, LinkPrecedence.SECONDARY.value, now, now),
    ]
    fields = ["id", "email", "phone_number", "linked_id", "link_precedence", "created_at"]

    db.bulk_insert(model=Contact, fields=[*fields, "updated_at"], rows=rows, batch_size=2)
    db.record_import_history(
        contact_ids=[first, second, third],
        linked_ids=[0, first, stored.id],
        label="orders.csv",
        now=now,
        batch_size=2,
    )

    assert Contact.objects.get(id=second).linked_id == first
    events = {
        (event.kind, event.primary_id, tuple(event.details["contacts"]))
        for event in ClusterEvent.objects.filter(source=Source.COMMAND)
    }
    assert events == {
        (EventKind.PRIMARY_CREATED, first, (first, second)),
        (EventKind.SECONDARY_ADDED, stored.id, (third,)),
    }


def test_the_contacts_table_lock_and_the_write_turn_can_be_taken_by_a_writer():
    db = backend()
    with db.write_turn():
        db.lock_contacts_table()


@pytest.mark.parametrize(
    "statement",
    [
        postgresql_statements.CLUSTER_ROWS_SQL,
        postgresql_statements.APPLY_IF_UNCHANGED_SQL,
        postgresql_statements.IMPORT_HISTORY_SQL,
        postgresql_statements.CLUSTER_ROWS_FUNCTION.call,
        postgresql_statements.APPLY_IF_UNCHANGED_FUNCTION.call,
    ],
    ids=[
        "cluster rows",
        "apply if unchanged",
        "import history",
        "cluster rows' function",
        "apply if unchanged's function",
    ],
)
def test_hand_written_statements_fit_psycopgs_placeholder_cache(statement):
    """psycopg parses a longer statement's placeholders with regular expressions on every
    execution: once this cost ~8% of an /identify/ request's CPU."""
    assert len(statement) <= MAX_CACHED_STATEMENT_LENGTH


def test_a_statement_function_is_named_for_its_definition():
    """A release whose statement differs calls a function of its own, never the previous
    release's, which that release's app servers may still be calling."""
    function = postgresql_statements.CLUSTER_ROWS_FUNCTION
    changed = replace(function, statement=function.statement.replace("NULLS FIRST", "NULLS LAST"))

    assert changed.name != function.name
    assert changed.name.startswith("bitespeed_cluster_rows_")
    assert replace(function).name == function.name
