"""The picture of a cluster's identity graph (SPEC §3), laid out on the server for an inline SVG:
identifiers are nodes, contacts and link records are edges. No database and no randomness: the
same rows always give the same picture.

The graph is bipartite (an edge always joins an email and a phone number), so the layout has two
columns, emails on the left and phone numbers on the right, each label on the outer side of its
node, one row apart: labels cannot overlap however the edges run. The rows are ordered by the
barycentre heuristic, which keeps most edges short and uncrossed. A contact with one identifier is
a loop on its node. Past ``MAX_CONTACTS`` or ``MAX_IDENTIFIERS`` the rows would be too many to
read, and the page shows a ``GraphSummary`` instead.
"""

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

MAX_CONTACTS = 40
MAX_IDENTIFIERS = 60
MOST_CONNECTED_LISTED = 10

# SVG user units.
WIDTH = 840
EMAIL_X = 300
PHONE_X = 540
LABEL_GAP = 12
ROW = 24
TOP = 48
"""Room above the first row for the legend."""
BOTTOM = 16
PARALLEL_SPREAD = 14
"""How far apart parallel edges (one pair seen on several contacts or link records) bend."""
LABEL_CHARS = 34
"""Longer values are cut, with an ellipsis, to stay in their column; the node's title is whole."""

Blocks = Callable[[str, str], bool]
"""``Blocklist.blocks``: whether a value of a kind (``"email"``, ``"phone"``) is blocked."""


class ContactLike(Protocol):
    id: int
    email: str | None
    phone_number: str | None


class LinkLike(Protocol):
    email: str
    phone_number: str
    blocked: bool


@dataclass(frozen=True)
class Node:
    kind: str
    """``"email"`` or ``"phone"``."""
    value: str
    x: int
    y: int
    contacts: int
    """How many of the cluster's contacts carry it."""
    primary: bool
    """The primary contact carries it."""
    blocked: bool
    """A blocked value (docs/governance.md): stored, but it links nothing."""

    @property
    def label(self) -> str:
        if len(self.value) <= LABEL_CHARS:
            return self.value
        return self.value[: LABEL_CHARS - 1] + "…"

    @property
    def label_x(self) -> int:
        return self.x - LABEL_GAP if self.kind == "email" else self.x + LABEL_GAP

    @property
    def anchor(self) -> str:
        return "end" if self.kind == "email" else "start"


@dataclass(frozen=True)
class Edge:
    path: str
    """The SVG path's ``d``: a curve between two nodes, or a loop on one."""
    contact_id: int | None
    """The contact it stands for; ``None`` for a link record."""
    nodes: tuple[tuple[str, str], ...]
    primary: bool = False
    blocked: bool = False
    """It touches a blocked value, or is a blocked link record: it joins nothing."""

    @property
    def link(self) -> bool:
        return self.contact_id is None


@dataclass(frozen=True)
class GraphPicture:
    nodes: list[Node]
    edges: list[Edge]
    primary_id: int
    width: int
    height: int


@dataclass(frozen=True)
class Connected:
    kind: str
    value: str
    contacts: int
    blocked: bool


@dataclass(frozen=True)
class GraphSummary:
    """What the page says of a cluster too large to draw."""

    reason: str
    contacts: int
    emails: int
    phone_numbers: int
    links: int
    most_connected: list[Connected]
    """The identifiers the most contacts carry, most first."""


def cluster_picture(
    *,
    contacts: Sequence[ContactLike],
    links: Iterable[LinkLike],
    primary_id: int,
    blocks: Blocks,
) -> GraphPicture | GraphSummary:
    """The picture of a cluster whose live contacts (primary first) are ``contacts`` and whose
    link records are ``links``, or its summary when it is too large to draw legibly."""
    links = list(links)
    emails = _distinct(contact.email for contact in contacts)
    phones = _distinct(contact.phone_number for contact in contacts)
    if len(contacts) > MAX_CONTACTS or len(emails) + len(phones) > MAX_IDENTIFIERS:
        return _summary(contacts=contacts, links=links, emails=emails, phones=phones, blocks=blocks)
    pairs = [(c.email, c.phone_number) for c in contacts if c.email and c.phone_number]
    pairs += [(link.email, link.phone_number) for link in links]
    emails, phones = _ordered(emails=emails, phones=phones, pairs=pairs)
    rows = max(len(emails), len(phones), 1)
    primary = next((c for c in contacts if c.id == primary_id), None)
    carried = _carried(contacts)
    nodes: dict[tuple[str, str], Node] = {}
    for kind, column, x in (("email", emails, EMAIL_X), ("phone", phones, PHONE_X)):
        offset = TOP + (rows - len(column)) * ROW // 2 + ROW // 2
        for index, value in enumerate(column):
            nodes[kind, value] = Node(
                kind=kind,
                value=value,
                x=x,
                y=offset + index * ROW,
                contacts=carried[kind, value],
                primary=primary is not None
                and value == (primary.email if kind == "email" else primary.phone_number),
                blocked=blocks(kind, value),
            )
    return GraphPicture(
        nodes=list(nodes.values()),
        edges=_edges(contacts=contacts, links=links, nodes=nodes, primary_id=primary_id),
        primary_id=primary_id,
        width=WIDTH,
        height=TOP + rows * ROW + BOTTOM,
    )


def _distinct(values: Iterable[str | None]) -> list[str]:
    return list(dict.fromkeys(value for value in values if value))


def _carried(contacts: Iterable[ContactLike]) -> Counter[tuple[str, str]]:
    carried: Counter[tuple[str, str]] = Counter()
    for contact in contacts:
        if contact.email:
            carried["email", contact.email] += 1
        if contact.phone_number:
            carried["phone", contact.phone_number] += 1
    return carried


def _ordered(
    *, emails: list[str], phones: list[str], pairs: list[tuple[str, str]], sweeps: int = 4
) -> tuple[list[str], list[str]]:
    """Both columns ordered by the barycentre heuristic: each value sits near the mean row of its
    neighbours in the other column, ties kept in the order of the contacts (primary first)."""
    neighbours: dict[str, list[str]] = {}
    for email, phone in pairs:
        neighbours.setdefault(email, []).append(phone)
        neighbours.setdefault(phone, []).append(email)

    def by_barycentre(column: list[str], other: list[str]) -> list[str]:
        place = {value: index for index, value in enumerate(other)}
        scale = len(column) / max(len(other), 1)

        def key(item: tuple[int, str]) -> tuple[float, int]:
            index, value = item
            rows = [place[n] for n in neighbours.get(value, []) if n in place]
            return (sum(rows) / len(rows) * scale if rows else index, index)

        return [value for _, value in sorted(enumerate(column), key=key)]

    for _ in range(sweeps):
        phones = by_barycentre(phones, emails)
        emails = by_barycentre(emails, phones)
    return emails, phones


def _edges(
    *,
    contacts: Iterable[ContactLike],
    links: Iterable[LinkLike],
    nodes: dict[tuple[str, str], Node],
    primary_id: int,
) -> list[Edge]:
    """Contacts first (the primary's drawn last, on top), then link records; parallel edges bend
    apart and loops on one node grow, so that every edge stays visible."""
    seen: Counter[tuple[tuple[str, str], ...]] = Counter()
    edges = []
    for contact in contacts:
        ends = tuple(
            node for node in (("email", contact.email), ("phone", contact.phone_number)) if node[1]
        )
        edges.append(
            _edge(
                ends=ends,
                nodes=nodes,
                nth=seen[ends],
                contact_id=contact.id,
                primary=contact.id == primary_id,
            )
        )
        seen[ends] += 1
    for link in links:
        ends = (("email", link.email), ("phone", link.phone_number))
        if all(end in nodes for end in ends):
            edges.append(
                _edge(ends=ends, nodes=nodes, nth=seen[ends], contact_id=None, blocked=link.blocked)
            )
            seen[ends] += 1
    return sorted(edges, key=lambda edge: edge.primary)


def _edge(
    *,
    ends: tuple[tuple[str, str], ...],
    nodes: dict[tuple[str, str], Node],
    nth: int,
    contact_id: int | None,
    primary: bool = False,
    blocked: bool = False,
) -> Edge:
    drawn = [nodes[end] for end in ends]
    blocked = blocked or any(node.blocked for node in drawn)
    path = _loop(drawn[0], nth=nth) if len(drawn) == 1 else _curve(*drawn, nth=nth)
    return Edge(path=path, contact_id=contact_id, nodes=ends, primary=primary, blocked=blocked)


def _curve(start: Node, end: Node, *, nth: int) -> str:
    """A quadratic curve whose control point moves off the straight line, alternately to either
    side, by the edge's place among the parallel ones (the first is straight)."""
    bend = (nth + 1) // 2 * PARALLEL_SPREAD * (1 if nth % 2 else -1)
    dx, dy = end.x - start.x, end.y - start.y
    length = max((dx * dx + dy * dy) ** 0.5, 1)
    cx = (start.x + end.x) / 2 - dy / length * bend * 2
    cy = (start.y + end.y) / 2 + dx / length * bend * 2
    return f"M {start.x} {start.y} Q {cx:.1f} {cy:.1f} {end.x} {end.y}"


def _loop(node: Node, *, nth: int) -> str:
    """A loop into the space between the columns, larger for each further contact."""
    reach = (32 + 14 * nth) * (1 if node.kind == "email" else -1)
    height = 10 + 3 * nth
    x, y = node.x, node.y
    return f"M {x} {y} C {x + reach} {y - height}, {x + reach} {y + height}, {x} {y}"


def _summary(
    *,
    contacts: Sequence[ContactLike],
    links: list[LinkLike],
    emails: list[str],
    phones: list[str],
    blocks: Blocks,
) -> GraphSummary:
    order = {("email", value): i for i, value in enumerate(emails)}
    order |= {("phone", value): len(emails) + i for i, value in enumerate(phones)}
    carried = _carried(contacts)
    most = sorted(carried, key=lambda node: (-carried[node], order[node]))
    return GraphSummary(
        reason=(
            f"This identity has {len(contacts)} live contacts and "
            f"{len(emails) + len(phones)} identifiers: more than a picture can show legibly "
            f"({MAX_CONTACTS} contacts or {MAX_IDENTIFIERS} identifiers at most)."
        ),
        contacts=len(contacts),
        emails=len(emails),
        phone_numbers=len(phones),
        links=len(links),
        most_connected=[
            Connected(
                kind=kind, value=value, contacts=carried[kind, value], blocked=blocks(kind, value)
            )
            for kind, value in most[:MOST_CONNECTED_LISTED]
        ],
    )
