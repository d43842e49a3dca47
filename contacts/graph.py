"""A union-find over hashable nodes: the identity graph of SPEC §3 without any ORM.

Used to rebuild clusters from stored rows and, in tests, as the reference model of the service.
"""

from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

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

    def connected(self, first: Node, second: Node) -> bool:
        return self.find(first) == self.find(second)

    def groups(self, nodes: Iterable[Node] | None = None) -> list[set[Node]]:
        """The sets, each as a set of its members (restricted to ``nodes`` when given)."""
        by_root: dict[Node, set[Node]] = {}
        for node in self._parent if nodes is None else nodes:
            by_root.setdefault(self.find(node), set()).add(node)
        return list(by_root.values())
