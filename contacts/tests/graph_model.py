"""The reference model for tests: SPEC §2 invariants and §3 clusters, computed from stored rows."""

from collections import defaultdict

from contacts.graph import elect_primaries, identifier_nodes
from contacts.models import Contact, IdentityLink, LinkPrecedence
from contacts.rows import ContactRow
from contacts.selectors.checks import stored_policy


def live_rows() -> list[ContactRow]:
    return [
        ContactRow(*row)
        for row in Contact.live.order_by("created_at", "id").values_list(
            "id", "email", "phone_number", "linked_id", "created_at"
        )
    ]


def assert_invariants() -> None:
    """Assert SPEC §2's invariants over live contacts, with §3's components as the clusters
    (blocked values are not nodes: docs/governance.md)."""
    live = {
        row["id"]: row
        for row in Contact.live.values(
            "id", "email", "phone_number", "linked_id", "link_precedence"
        )
    }
    for row in live.values():
        assert row["email"] or row["phone_number"], f"contact {row['id']} has no identifier"
        is_primary = row["link_precedence"] == LinkPrecedence.PRIMARY
        assert is_primary == (row["linked_id"] is None), f"contact {row['id']} precedence"
        if not is_primary:
            primary = live.get(row["linked_id"])
            assert primary is not None, f"contact {row['id']} links to a missing or deleted row"
            assert primary["linked_id"] is None, f"contact {row['id']} is in a chain"
    links = list(IdentityLink.objects.values_list("email", "phone_number"))
    blocklist = stored_policy().blocklist
    expected = elect_primaries(contacts=live_rows(), links=links, blocklist=blocklist)
    actual = {row["id"]: row["linked_id"] or row["id"] for row in live.values()}
    assert actual == expected, "clusters differ from the components led by their oldest contact"


def stored_clusters() -> list[set[tuple[str, str]]]:
    """The clusters in the database, each as the set of its identifiers."""
    clusters: dict[int, set[tuple[str, str]]] = defaultdict(set)
    for row in live_rows():
        clusters[row.root_id].update(
            identifier_nodes(email=row.email, phone_number=row.phone_number)
        )
    return list(clusters.values())


def as_partition(groups: list[set]) -> set[frozenset]:
    return {frozenset(group) for group in groups}
