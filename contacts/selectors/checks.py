"""Read-only checks of the stored links against SPEC §3's graph (``manage.py reconcile``)."""

from collections.abc import Callable
from dataclasses import dataclass

from contacts.graph import ContactGraph, identifier_nodes
from contacts.rules import (
    plan_relinks,
)
from contacts.selectors.clusters import (
    contact_states,
    identity_link_pairs,
    live_contacts_by_age,
    neighbourhood_rows,
)

Progress = Callable[[int], object]
"""Told how many more rows were processed; the commands pass a progress bar's ``update``."""


def no_progress(count: int) -> None:
    """The default ``Progress``: report nothing."""


@dataclass(frozen=True, slots=True)
class Relink:
    """A live contact whose stored link differs from SPEC §3's graph; ``None`` means primary."""

    contact_id: int
    stored_linked_id: int | None
    linked_id: int | None


@dataclass(frozen=True)
class GraphCheck:
    """What a comparison of the stored links with the graph rebuilt from stored rows found."""

    contacts: int
    components: int
    relinks: list[Relink]


def contact_graph_load(*, chunk_size: int, progress: Progress = no_progress) -> ContactGraph:
    """SPEC §3's graph of every live contact and link record, streamed into compact arrays."""
    graph = ContactGraph()
    rows = live_contacts_by_age(chunk_size=chunk_size)
    for count, (contact_id, email, phone_number, linked_id) in enumerate(rows, start=1):
        graph.add_contact(
            contact_id=contact_id, email=email, phone_number=phone_number, linked_id=linked_id
        )
        if count % chunk_size == 0:
            progress(chunk_size)
    progress(len(graph) % chunk_size)
    for email, phone_number in identity_link_pairs(chunk_size=chunk_size):
        graph.add_link(email=email, phone_number=phone_number)
    return graph


def graph_check(*, chunk_size: int, progress: Progress = no_progress) -> GraphCheck:
    """Compare every live contact's link with the graph rebuilt from stored rows; reads only.

    One streamed read without locks: on a database that serves traffic it is a snapshot, and
    ``relinks_repair`` re-reads each cluster under its locks before writing anything.
    """
    graph = contact_graph_load(chunk_size=chunk_size, progress=progress)
    leaders = graph.leaders()
    relinks = [
        Relink(
            contact_id=contact_id,
            stored_linked_id=stored or None,
            linked_id=elected or None,
        )
        for contact_id, stored, elected in graph.relinks(leaders=leaders)
    ]
    components = sum(1 for position in leaders if position >= 0)
    return GraphCheck(contacts=len(graph), components=components, relinks=relinks)


def scope_check(
    *,
    contact_id: int | None = None,
    email: str | None = None,
    phone_number: str | None = None,
) -> GraphCheck:
    """``graph_check`` restricted to the clusters of one contact, email or phone number.

    Covers whole components: every cluster reachable from the scope through shared identifiers
    and link records. Raises ``Contact.DoesNotExist`` for an unknown ``contact_id``.
    """
    root_ids: set[int] = set()
    nodes = set(identifier_nodes(email=email, phone_number=phone_number))
    if contact_id is not None:
        (state,) = contact_states(contact_ids=[contact_id])
        root_ids.add(state.root_id)
        nodes |= set(state.nodes)
    rows, links = neighbourhood_rows(root_ids=root_ids, nodes=nodes)
    elected, changes = plan_relinks(rows=rows, links=links)
    stored = {row.id: row.linked_id for row in rows}
    return GraphCheck(
        contacts=len(rows),
        components=len(set(elected.values())),
        relinks=[
            Relink(
                contact_id=change.contact_id,
                stored_linked_id=stored[change.contact_id],
                linked_id=change.linked_id,
            )
            for change in changes
        ],
    )
