"""The compact graph of whole-table passes elects the same primaries as the reference model."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from contacts.graph import NO_LINK, CompactUnionFind, ContactGraph, UnionFind, elect_primaries
from contacts.rows import ContactRow


def random_rows(rng: random.Random, count: int) -> list[ContactRow]:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows = []
    for contact_id in rng.sample(range(1, 10 * count), count):
        email = rng.choice([None, *(f"u{i}@example.com" for i in range(count // 2))])
        phone = rng.choice(
            [*(f"{100 + i}" for i in range(count // 2))] + [None] * (email is not None)
        )
        rows.append(
            ContactRow(
                id=contact_id,
                email=email,
                phone_number=phone,
                linked_id=rng.choice([None, contact_id + 1]),
                created_at=start + timedelta(seconds=rng.randrange(count // 3 + 1)),
            )
        )
    return sorted(rows, key=lambda row: row.age_key)


@pytest.mark.parametrize("seed", range(20))
def test_compact_graph_elects_what_the_reference_model_elects(seed):
    rng = random.Random(seed)
    rows = random_rows(rng, 60)
    links = [(f"u{rng.randrange(30)}@example.com", f"{100 + rng.randrange(40)}") for _ in range(8)]
    graph = ContactGraph()
    for row in rows:
        graph.add_contact(
            contact_id=row.id,
            email=row.email,
            phone_number=row.phone_number,
            linked_id=row.linked_id,
        )
    for email, phone in links:
        graph.add_link(email=email, phone_number=phone)

    leaders = graph.leaders()
    relinks = {contact_id: elected for contact_id, _, elected in graph.relinks(leaders=leaders)}

    expected = elect_primaries(contacts=rows, links=links)
    for row in rows:
        elected = NO_LINK if expected[row.id] == row.id else expected[row.id]
        if (row.linked_id or NO_LINK) != elected:
            assert relinks.pop(row.id) == elected
    assert relinks == {}
    assert sum(1 for position in leaders if position >= 0) == len(set(expected.values()))


def test_a_link_record_counts_only_when_both_identifiers_are_on_contacts():
    graph = ContactGraph()
    graph.add_contact(contact_id=1, email="a@example.com", phone_number="111", linked_id=None)
    graph.add_contact(contact_id=2, email="b@example.com", phone_number="222", linked_id=None)

    assert graph.add_link(email="a@example.com", phone_number="999") is False
    assert graph.component(0) != graph.component(1)
    assert graph.add_link(email="a@example.com", phone_number="222") is True
    assert graph.component(0) == graph.component(1)


@pytest.mark.parametrize("seed", range(5))
def test_compact_union_find_partitions_like_the_dict_union_find(seed):
    rng = random.Random(seed)
    compact, reference = CompactUnionFind(), UnionFind()
    nodes = [compact.add() for _ in range(200)]
    for node in nodes:
        reference.add(node)
    for _ in range(150):
        first, second = rng.choice(nodes), rng.choice(nodes)
        compact.union(first, second)
        reference.union(first, second)

    groups: dict[int, set[int]] = {}
    for node in nodes:
        groups.setdefault(compact.find(node), set()).add(node)
    assert {frozenset(group) for group in groups.values()} == {
        frozenset(group) for group in reference.groups()
    }
