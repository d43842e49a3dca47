"""The reference model for tests: SPEC §2 invariants and §3 clusters, computed from stored rows."""

from collections import defaultdict

from contacts.graph import UnionFind
from contacts.models import Contact, IdentityLink, LinkPrecedence


def identifier_nodes(*, email: str | None, phone: str | None) -> list[tuple[str, str]]:
    return [node for node in (("email", email), ("phone", phone)) if node[1] is not None]


def assert_invariants() -> None:
    """Assert SPEC §2's invariants over live contacts, and that clusters are §3's components."""
    live = list(
        Contact.live.order_by("created_at", "id").values(
            "id", "email", "phone_number", "linked_id", "link_precedence", "created_at"
        )
    )
    by_id = {row["id"]: row for row in live}
    graph: UnionFind = UnionFind()
    for row in live:
        nodes = identifier_nodes(email=row["email"], phone=row["phone_number"])
        assert nodes, f"contact {row['id']} has neither email nor phone"
        graph.union(*nodes)
        is_primary = row["link_precedence"] == LinkPrecedence.PRIMARY
        assert is_primary == (row["linked_id"] is None), f"contact {row['id']} precedence"
        if not is_primary:
            primary = by_id.get(row["linked_id"])
            assert primary is not None, f"contact {row['id']} links to a missing or deleted row"
            assert primary["linked_id"] is None, f"contact {row['id']} is in a chain"
    live_identifiers = {("email", row["email"]) for row in live} | {
        ("phone", row["phone_number"]) for row in live
    }
    for email, phone in IdentityLink.objects.values_list("email", "phone_number"):
        if ("email", email) in live_identifiers and ("phone", phone) in live_identifiers:
            graph.union(("email", email), ("phone", phone))

    primaries_of_component: dict[object, set[int]] = defaultdict(set)
    for row in live:
        node = identifier_nodes(email=row["email"], phone=row["phone_number"])[0]
        primaries_of_component[graph.find(node)].add(row["linked_id"] or row["id"])
    for component, primaries in primaries_of_component.items():
        assert len(primaries) == 1, f"component {component} is split over primaries {primaries}"
    members: dict[int, list[dict]] = defaultdict(list)
    for row in live:
        members[row["linked_id"] or row["id"]].append(row)
    for primary_id, rows in members.items():
        oldest = min(rows, key=lambda row: (row["created_at"], row["id"]))
        assert oldest["id"] == primary_id, f"cluster {primary_id} is led by a newer contact"


def stored_clusters() -> list[set[tuple[str, str]]]:
    """The clusters in the database, each as the set of its identifiers."""
    clusters: dict[int, set[tuple[str, str]]] = defaultdict(set)
    for row in Contact.live.values("id", "email", "phone_number", "linked_id"):
        clusters[row["linked_id"] or row["id"]].update(
            identifier_nodes(email=row["email"], phone=row["phone_number"])
        )
    return list(clusters.values())


def as_partition(groups: list[set]) -> set[frozenset]:
    return {frozenset(group) for group in groups}
