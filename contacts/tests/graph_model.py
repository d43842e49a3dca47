"""The reference model for tests: SPEC §2 invariants and §3 clusters, computed from stored rows."""

from collections import defaultdict

from contacts.graph import elect_primaries, identifier_nodes
from contacts.models import Contact, IdentityLink, LinkPrecedence, OutboxEvent
from contacts.rows import ContactRow
from contacts.selectors.checks import stored_policy
from contacts.services.events import events_sequence


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


def identities_from_events() -> set[frozenset[int]]:
    """The identities a downstream system ends with that knows only the events (docs/events.md),
    each as the set of its contacts' ids: what it learns of the service's clusters without ever
    seeing an email or a phone number."""
    events_sequence()
    members: dict[int, set[int]] = defaultdict(set)
    for event in OutboxEvent.objects.order_by("id"):
        identity_id, data = event.identity_id, event.data
        if event.type in ("identity.created", "identity.contact_added"):
            members[identity_id].update(data["contactIds"])
        elif event.type == "identity.merged" and "relinkedContactIds" not in data:
            for merged_id in data["mergedIdentityIds"]:
                members[identity_id] |= members.pop(merged_id, set())
        elif event.type in ("identity.merged", "identity.split", "identity.repaired"):
            moved = set(data["relinkedContactIds"])
            for contacts in members.values():
                contacts -= moved
            members[identity_id] |= moved
        elif event.type == "identity.erased" or data.get("change") == "deleted":
            gone = set(data.get("contactIds") or [data["contactId"]])
            for contacts in members.values():
                contacts -= gone
        elif data.get("change") == "restored":
            members[identity_id].add(data["contactId"])
    return {frozenset(contacts) for contacts in members.values() if contacts}


def stored_identities() -> set[frozenset[int]]:
    """The live clusters in the database, each as the set of its contacts' ids."""
    clusters: dict[int, set[int]] = defaultdict(set)
    for row in live_rows():
        clusters[row.root_id].add(row.id)
    return {frozenset(contacts) for contacts in clusters.values()}
