"""A union-find over hashable nodes: the identity graph of SPEC §3 without any ORM.

Used to rebuild clusters from stored rows and, in tests, as the reference model of the service.
"""

from array import array
from collections.abc import Callable, Hashable, Iterable, Iterator
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from contacts.governance import NO_BLOCKLIST, Blocklist

Node = TypeVar("Node", bound=Hashable)


class UnionFind(Generic[Node]):
    """Disjoint sets with path halving and union by size."""

    def __init__(self) -> None:
        self._parent: dict[Node, Node] = {}
        self._size: dict[Node, int] = {}

    def add(self, node: Node) -> None:
        if node not in self._parent:
            self._parent[node] = node
            self._size[node] = 1

    def find(self, node: Node) -> Node:
        self.add(node)
        parent = self._parent
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def union(self, *nodes: Node) -> Node:
        """Join the sets of all ``nodes``; returns the root of the joined set."""
        roots = iter(nodes)
        root = self.find(next(roots))
        for node in roots:
            other = self.find(node)
            if other == root:
                continue
            if self._size[other] > self._size[root]:
                root, other = other, root
            self._parent[other] = root
            self._size[root] += self._size[other]
        return root

    def nodes(self) -> Iterator[Node]:
        return iter(self._parent)

    def groups(self, nodes: Iterable[Node] | None = None) -> list[set[Node]]:
        """The sets, each as a set of its members (restricted to ``nodes`` when given)."""
        by_root: dict[Node, set[Node]] = {}
        for node in self._parent if nodes is None else nodes:
            by_root.setdefault(self.find(node), set()).add(node)
        return list(by_root.values())


class ContactLike(Protocol):
    id: int
    email: str | None
    phone_number: str | None
    created_at: datetime


def identifier_nodes(*, email: str | None, phone_number: str | None) -> list[tuple[str, str]]:
    """The graph's nodes for one contact: ``("email", value)`` and ``("phone", value)``."""
    nodes = []
    if email is not None:
        nodes.append(("email", email))
    if phone_number is not None:
        nodes.append(("phone", phone_number))
    return nodes


def elect_primaries(
    *,
    contacts: Iterable[ContactLike],
    links: Iterable[tuple[str, str]],
    blocklist: Blocklist = NO_BLOCKLIST,
) -> dict[int, int]:
    """Map each live contact's id to the id of the primary it should have (its own on a primary).

    The components are those of SPEC §3: identifiers joined by the contacts that carry them and by
    the link records whose email and phone both still appear on a contact. A blocked value is not
    a node (docs/governance.md): a contact that carries nothing else is a component of its own.
    Each component is led by its oldest contact (``created_at``, then ``id``).
    """
    contacts = list(contacts)
    graph: UnionFind[tuple[str, str]] = UnionFind()
    nodes = {
        contact.id: blocklist.nodes(email=contact.email, phone_number=contact.phone_number)
        or [("contact", str(contact.id))]
        for contact in contacts
    }
    for contact in contacts:
        graph.union(*nodes[contact.id])
    present = set(graph.nodes())
    for email, phone_number in links:
        if ("email", email) in present and ("phone", phone_number) in present:
            graph.union(("email", email), ("phone", phone_number))

    def component(contact: ContactLike) -> tuple[str, str]:
        return graph.find(nodes[contact.id][0])

    oldest: dict[tuple[str, str], ContactLike] = {}
    for contact in contacts:
        root = component(contact)
        leader = oldest.get(root)
        if leader is None or (contact.created_at, contact.id) < (leader.created_at, leader.id):
            oldest[root] = contact
    return {contact.id: oldest[component(contact)].id for contact in contacts}


class CompactUnionFind:
    """Disjoint sets over the integers ``0 … n-1`` in two arrays: 16 bytes a node, for millions.

    Path halving and union by size, like ``UnionFind``, without a dict or an object per node.
    """

    def __init__(self) -> None:
        self._parent = array("q")
        self._size = array("q")

    def __len__(self) -> int:
        return len(self._parent)

    def add(self) -> int:
        """A new singleton set; returns its node."""
        node = len(self._parent)
        self._parent.append(node)
        self._size.append(1)
        return node

    def find(self, node: int) -> int:
        parent = self._parent
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def union(self, first: int, second: int) -> int:
        """Join the sets of both nodes; returns the root of the joined set."""
        root, other = self.find(first), self.find(second)
        if root == other:
            return root
        if self._size[other] > self._size[root]:
            root, other = other, root
        self._parent[other] = root
        self._size[root] += self._size[other]
        return root


NO_LINK = 0
"""``ContactGraph``'s stand-in for a ``NULL`` ``linked_id`` (ids start at 1)."""


class ContactGraph:
    """SPEC §3's identity graph of many live contacts, kept compact for whole-table passes.

    Identifiers are interned to the nodes of a ``CompactUnionFind``; each contact keeps its id, its
    stored ``linked_id`` and one of its nodes in flat arrays, by position. Contacts are added oldest
    first (``created_at``, then ``id``), so the contact of a component with the lowest position is
    the one that must lead it (SPEC §2 invariant 4). Link records are added after the contacts:
    one counts only when both of its identifiers are on a contact. Blocked values are not nodes
    (docs/governance.md): a contact that carries nothing else gets a node of its own.
    """

    def __init__(self, *, blocklist: Blocklist = NO_BLOCKLIST) -> None:
        self.sets = CompactUnionFind()
        self._nodes: dict[str, dict[str, int]] = {"email": {}, "phone": {}}
        self._blocked = {kind: blocklist.matcher(kind) for kind in self._nodes}
        self.contact_ids = array("q")
        self.linked_ids = array("q")
        self._contact_nodes = array("q")

    def __len__(self) -> int:
        """The number of contacts."""
        return len(self.contact_ids)

    def node(self, kind: str, value: str) -> int | None:
        """The node of an identifier that some contact carries, else ``None``."""
        return self._nodes[kind].get(value)

    def blocked(self, kind: str) -> Callable[[str], object] | None:
        """The blocklist's test of values of ``kind`` (``Blocklist.matcher``): blocked values are
        never nodes."""
        return self._blocked[kind]

    def _intern(self, kind: str, value: str | None) -> int | None:
        if value is None:
            return None
        nodes = self._nodes[kind]
        node = nodes.get(value)
        if node is None:
            blocked = self._blocked[kind]
            if blocked is not None and blocked(value):
                return None
            node = nodes[value] = self.sets.add()
        return node

    def add_contact(
        self, *, contact_id: int, email: str | None, phone_number: str | None, linked_id: int | None
    ) -> int:
        """Add a contact younger than every one added before; returns its position."""
        email_node = self._intern("email", email)
        phone_node = self._intern("phone", phone_number)
        if email_node is not None and phone_node is not None:
            self.sets.union(email_node, phone_node)
        if email_node is None and phone_node is None:
            email_node = self.sets.add()
        self.contact_ids.append(contact_id)
        self.linked_ids.append(NO_LINK if linked_id is None else linked_id)
        self._contact_nodes.append(email_node if email_node is not None else phone_node)
        return len(self.contact_ids) - 1

    def add_link(self, *, email: str, phone_number: str) -> bool:
        """Join the identifiers of a link record if both are on contacts; whether it counted."""
        email_node, phone_node = self.node("email", email), self.node("phone", phone_number)
        if email_node is None or phone_node is None:
            return False
        self.sets.union(email_node, phone_node)
        return True

    def component(self, position: int) -> int:
        """The root node of the component of the contact at ``position``."""
        return self.sets.find(self._contact_nodes[position])

    def leaders(self) -> array:
        """By root node, the position of the oldest contact of its component; -1 off the roots."""
        return self.leaders_and_sizes()[0]

    def leaders_and_sizes(self) -> tuple[array, array]:
        """``leaders()``, and by root node the number of contacts of its component, in one pass."""
        leaders = array("q", [-1]) * len(self.sets)
        sizes = array("q", [0]) * len(self.sets)
        for position in range(len(self.contact_ids)):
            root = self.component(position)
            if leaders[root] < 0:
                leaders[root] = position
            sizes[root] += 1
        return leaders, sizes

    def relinks(self, *, leaders: array) -> Iterator[tuple[int, int, int]]:
        """``(contact id, stored linked_id, elected linked_id)`` of every contact that differs.

        ``NO_LINK`` stands for ``NULL``: the contact is, or must become, a primary.
        """
        contact_ids, linked_ids = self.contact_ids, self.linked_ids
        for position in range(len(contact_ids)):
            leader = leaders[self.component(position)]
            elected = NO_LINK if leader == position else contact_ids[leader]
            if linked_ids[position] != elected:
                yield contact_ids[position], linked_ids[position], elected
