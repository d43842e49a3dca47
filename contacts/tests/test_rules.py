"""The pure rules, table-driven: each case a row of stored contacts, a request and what it decides.

``plan_identify`` (SPEC §4), ``plan_relinks`` (SPEC §3's graph and §2's primaries) and
``plan_import`` run without a database, so that a rule can be checked, and changed, on its own.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from contacts.graph import ContactGraph
from contacts.rows import ContactRow
from contacts.rules import ImportRow, LinkChange, Outcome, plan_identify, plan_import, plan_relinks

START = datetime(2024, 1, 1, tzinfo=UTC)


def rows(*contacts: tuple) -> list[ContactRow]:
    """``(id, email, phone, linked_id, minute)`` tuples as rows created ``minute`` after START."""
    return [
        ContactRow(id, email, phone, linked, START + timedelta(minutes=minute))
        for id, email, phone, linked, minute in contacts
    ]


@dataclass(frozen=True)
class IdentifyCase:
    stored: list[tuple]
    email: str | None
    phone: str | None
    outcome: Outcome
    primary: int | None = None
    demoted: list[int] = field(default_factory=list)
    new: list[tuple[str, str]] = field(default_factory=list)
    stores_link: bool = False


IDENTIFY_CASES = {
    "nothing stored: a new primary with both identifiers": IdentifyCase(
        [], "a@x.io", "100", Outcome.NEW_PRIMARY, new=[("email", "a@x.io"), ("phone", "100")]
    ),
    "nothing stored, a phone only": IdentifyCase(
        [], None, "100", Outcome.NEW_PRIMARY, new=[("phone", "100")]
    ),
    "both known on one contact: nothing to write": IdentifyCase(
        [(1, "a@x.io", "100", None, 0)], "a@x.io", "100", Outcome.UNCHANGED, primary=1
    ),
    "one identifier known, the other absent: nothing to write": IdentifyCase(
        [(1, "a@x.io", "100", None, 0)], "a@x.io", None, Outcome.UNCHANGED, primary=1
    ),
    "a new email for a known phone: a secondary of its cluster": IdentifyCase(
        [(1, "a@x.io", "100", None, 0), (2, "b@x.io", "100", 1, 1)],
        "c@x.io",
        "100",
        Outcome.NEW_SECONDARY,
        primary=1,
        new=[("email", "c@x.io")],
    ),
    "both known in one cluster on different contacts: nothing to write": IdentifyCase(
        [(1, "a@x.io", "100", None, 0), (2, "b@x.io", "200", 1, 1)],
        "a@x.io",
        "200",
        Outcome.UNCHANGED,
        primary=1,
    ),
    "two clusters bridged: the older primary stays, the pair becomes a link record": IdentifyCase(
        [(1, "a@x.io", "100", None, 0), (2, "b@x.io", "200", None, 5)],
        "a@x.io",
        "200",
        Outcome.MERGE,
        primary=1,
        demoted=[2],
        stores_link=True,
    ),
    "the older cluster has the higher id": IdentifyCase(
        [(1, "a@x.io", "100", None, 5), (2, "b@x.io", "200", None, 0)],
        "a@x.io",
        "200",
        Outcome.MERGE,
        primary=2,
        demoted=[1],
        stores_link=True,
    ),
    "created at the same time: the lower id is the older": IdentifyCase(
        [(2, "a@x.io", "100", None, 0), (1, "b@x.io", "200", None, 0)],
        "a@x.io",
        "200",
        Outcome.MERGE,
        primary=1,
        demoted=[2],
        stores_link=True,
    ),
    "a bridge whose pair a contact already carries stores no link record": IdentifyCase(
        [(1, "a@x.io", "100", None, 0), (2, "a@x.io", "200", None, 5)],
        "a@x.io",
        "200",
        Outcome.MERGE,
        primary=1,
        demoted=[2],
    ),
    "a cluster whose primary is gone: its oldest live contact takes the others over": IdentifyCase(
        [(3, "b@x.io", "100", 1, 2), (2, "c@x.io", "100", 1, 1)],
        "b@x.io",
        "100",
        Outcome.MERGE,
        primary=2,
        demoted=[1],
    ),
}


@pytest.mark.parametrize("case", IDENTIFY_CASES.values(), ids=IDENTIFY_CASES.keys())
def test_plan_identify(case: IdentifyCase):
    plan = plan_identify(rows=rows(*case.stored), email=case.email, phone_number=case.phone)

    assert plan.outcome is case.outcome
    assert (plan.primary.id if plan.primary else None) == case.primary
    assert plan.demoted_ids == case.demoted
    assert plan.new_identifiers == case.new
    assert plan.stores_link is case.stores_link
    assert plan.writes is (case.outcome is not Outcome.UNCHANGED)


@dataclass(frozen=True)
class RelinkCase:
    stored: list[tuple]
    links: list[tuple[str, str]]
    elected: dict[int, int]
    changes: list[LinkChange]


RELINK_CASES = {
    "a healthy cluster needs nothing": RelinkCase(
        [(1, "a@x.io", "100", None, 0), (2, "b@x.io", "100", 1, 1)], [], {1: 1, 2: 1}, []
    ),
    "a chain is linked straight to the primary": RelinkCase(
        [(1, "a@x.io", "100", None, 0), (2, "b@x.io", "100", 1, 1), (3, "b@x.io", "300", 2, 2)],
        [],
        {1: 1, 2: 1, 3: 1},
        [LinkChange(contact_id=3, linked_id=1)],
    ),
    "a primary newer than its secondary swaps places with it": RelinkCase(
        [(1, "a@x.io", "100", 2, 0), (2, "b@x.io", "100", None, 1)],
        [],
        {1: 1, 2: 1},
        [LinkChange(contact_id=1, linked_id=None), LinkChange(contact_id=2, linked_id=1)],
    ),
    "contacts that share nothing split, each led by its oldest": RelinkCase(
        [(1, "a@x.io", "100", None, 0), (2, "b@x.io", "200", 1, 1), (3, "b@x.io", "300", 1, 2)],
        [],
        {1: 1, 2: 2, 3: 2},
        [LinkChange(contact_id=2, linked_id=None), LinkChange(contact_id=3, linked_id=2)],
    ),
    "a link record holds two contacts together": RelinkCase(
        [(1, "a@x.io", "100", None, 0), (2, "b@x.io", "200", 1, 1)],
        [("a@x.io", "200")],
        {1: 1, 2: 1},
        [],
    ),
}


@pytest.mark.parametrize("case", RELINK_CASES.values(), ids=RELINK_CASES.keys())
def test_plan_relinks(case: RelinkCase):
    elected, changes = plan_relinks(rows=rows(*case.stored), links=case.links)

    assert elected == case.elected
    assert changes == case.changes


@dataclass(frozen=True)
class ImportCase:
    stored: list[tuple]
    rows: list[tuple]
    """``(line, email, phone, minute)``."""
    contacts: list[int]
    """Lines that create a contact, in the order they are created."""
    links: list[int] = field(default_factory=list)
    unchanged: int = 0


IMPORT_CASES = {
    "repeats of an order add nothing": ImportCase(
        [], [(1, "a@x.io", "100", 0), (2, "a@x.io", "100", 1)], contacts=[1], unchanged=1
    ),
    "rows apply in created-time order, not file order": ImportCase(
        [], [(1, "a@x.io", "100", 9), (2, "a@x.io", "100", 1)], contacts=[2], unchanged=1
    ),
    "a new identifier for a known one creates a contact": ImportCase(
        [], [(1, "a@x.io", "100", 0), (2, "b@x.io", "100", 1)], contacts=[1, 2]
    ),
    "a row joining two known clusters becomes a link record": ImportCase(
        [],
        [(1, "a@x.io", "100", 0), (2, "b@x.io", "200", 1), (3, "a@x.io", "200", 2)],
        contacts=[1, 2],
        links=[3],
    ),
    "a second bridge of the same clusters adds nothing": ImportCase(
        [],
        [
            (1, "a@x.io", "100", 0),
            (2, "b@x.io", "200", 1),
            (3, "a@x.io", "200", 2),
            (4, "b@x.io", "100", 3),
        ],
        contacts=[1, 2],
        links=[3],
        unchanged=1,
    ),
    "what is stored counts as known": ImportCase(
        [(1, "a@x.io", "100", None, 0)],
        [(1, "a@x.io", "100", 5), (2, "b@x.io", "100", 6)],
        contacts=[2],
        unchanged=1,
    ),
}


@pytest.mark.parametrize("case", IMPORT_CASES.values(), ids=IMPORT_CASES.keys())
def test_plan_import(case: ImportCase):
    graph = ContactGraph()
    for row in rows(*case.stored):
        graph.add_contact(
            contact_id=row.id,
            email=row.email,
            phone_number=row.phone_number,
            linked_id=row.linked_id,
        )
    imported = [
        ImportRow(
            line=line, email=email, phone_number=phone, created_at=START + timedelta(minutes=m)
        )
        for line, email, phone, m in case.rows
    ]

    plan = plan_import(graph=graph, rows=imported)

    assert [row.line for row in plan.contacts] == case.contacts
    assert [row.line for row in plan.links] == case.links
    assert plan.unchanged == case.unchanged
    assert plan.first_position == len(case.stored)
