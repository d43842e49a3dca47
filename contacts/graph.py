"""A union-find over hashable nodes: the identity graph of SPEC §3 without any ORM.

Used to rebuild clusters from stored rows and, in tests, as the reference model of the service.
"""

from collections.abc import Hashable, Iterable, Iterator
from datetime import datetime
from typing import Generic, Protocol, TypeVar

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
    *, contacts: Iterable[ContactLike], links: Iterable[tuple[str, str]]
) -> dict[int, int]:
    """Map each live contact's id to the id of the primary it should have (its own on a primary).

    The components are those of SPEC §3: identifiers joined by the contacts that carry them and by
    the link records whose email and phone both still appear on a contact. Each component is led by
    its oldest contact (``created_at``, then ``id``).
    """
    contacts = list(contacts)
    graph: UnionFind[tuple[str, str]] = UnionFind()
    for contact in contacts:
        graph.union(*identifier_nodes(email=contact.email, phone_number=contact.phone_number))
    present = set(graph.nodes())
    for email, phone_number in links:
        if ("email", email) in present and ("phone", phone_number) in present:
            graph.union(("email", email), ("phone", phone_number))

    def component(contact: ContactLike) -> tuple[str, str]:
        return graph.find(
            identifier_nodes(email=contact.email, phone_number=contact.phone_number)[0]
        )

    oldest: dict[tuple[str, str], ContactLike] = {}
    for contact in contacts:
        root = component(contact)
        leader = oldest.get(root)
        if leader is None or (contact.created_at, contact.id) < (leader.created_at, leader.id):
            oldest[root] = contact
    return {contact.id: oldest[component(contact)].id for contact in contacts}
