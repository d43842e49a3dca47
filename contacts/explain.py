"""Why each contact belongs to its cluster (SPEC §3), as a pure function over stored rows.

A cluster is a connected component of the identity graph. Searching it breadth-first from the
primary gives every contact one reason, the edge that first reached it: an identifier it shares
with a contact nearer the primary, or a link record (the request that bridged two clusters) pairing
one of its identifiers with one of that contact's. No ORM here: the admin's cluster page and the
tests call it with rows they read.
"""

import enum
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from contacts.graph import ContactLike, identifier_nodes

Node = tuple[str, str]


class LinkLike(Protocol):
    email: str
    phone_number: str


class Via(enum.StrEnum):
    PRIMARY = "primary"
    SHARED_IDENTIFIER = "shared_identifier"
    LINK_RECORD = "link_record"
    UNREACHED = "unreached"


@dataclass(frozen=True, slots=True)
class Reason:
    """How a contact is connected to a contact nearer the primary.

    ``identifier`` is the contact's own identifier on that edge: the one it shares with
    ``contact_id`` (``SHARED_IDENTIFIER``), or the one ``link`` saw together with an identifier of
    ``contact_id`` (``LINK_RECORD``). ``UNREACHED`` means the stored links disagree with the graph:
    re-running reconciliation repairs that.
    """

    via: Via
    contact_id: int | None = None
    identifier: Node | None = None
    link: LinkLike | None = None


def _link_nodes(link: LinkLike) -> tuple[Node, Node]:
    return ("email", link.email), ("phone", link.phone_number)


def membership_reasons(
    *, contacts: Sequence[ContactLike], links: Iterable[LinkLike], primary_id: int
) -> dict[int, Reason]:
    """Map every contact's id to the reason it is in the cluster led by ``primary_id``.

    ``contacts`` are the cluster's live contacts, ``links`` the link records among their
    identifiers. Shared identifiers are preferred over link records at each step, and the search is
    breadth-first, so every reason points at a contact as near the primary as possible.
    """
    carriers: dict[Node, list[ContactLike]] = defaultdict(list)
    for contact in contacts:
        for node in identifier_nodes(email=contact.email, phone_number=contact.phone_number):
            carriers[node].append(contact)
    partners: dict[Node, list[tuple[Node, LinkLike]]] = defaultdict(list)
    for link in links:
        email, phone = _link_nodes(link)
        partners[email].append((phone, link))
        partners[phone].append((email, link))

    reasons: dict[int, Reason] = {primary_id: Reason(via=Via.PRIMARY)}
    queue = deque(contact for contact in contacts if contact.id == primary_id)
    while queue:
        current = queue.popleft()
        nodes = identifier_nodes(email=current.email, phone_number=current.phone_number)
        edges = [(node, None) for node in nodes] + [
            pair for node in nodes for pair in partners[node]
        ]
        for node, link in edges:
            for other in carriers[node]:
                if other.id in reasons:
                    continue
                reasons[other.id] = Reason(
                    via=Via.SHARED_IDENTIFIER if link is None else Via.LINK_RECORD,
                    contact_id=current.id,
                    identifier=node,
                    link=link,
                )
                queue.append(other)
    for contact in contacts:
        reasons.setdefault(contact.id, Reason(via=Via.UNREACHED))
    return reasons
