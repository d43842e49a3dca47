"""What an import does to the clusters already stored, decided from its plan alone, so that a dry
run reports the same figures as the write (``services.bulk.contacts_import``).

The write inserts the planned contacts and link records, then reconciles every stored cluster the
import touched (``clusters_reconcile``), which elects the oldest contact of each component by
``(created_at, id)``. Imported contacts get ids above every stored one, in plan order, so the
oldest imported contact of a component leads it only if it is strictly older than the component's
oldest stored contact.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from contacts.graph import NO_LINK, ContactGraph
from contacts.rules.imports import ImportPlan


@dataclass(slots=True)
class TouchedComponent:
    """A component of the planned graph that gains imported contacts or link records."""

    stored: list[int] = field(default_factory=list)
    """Positions of its stored contacts, oldest first."""
    first_new: int | None = None
    """Position of its oldest imported contact, if it has any."""


@dataclass(frozen=True)
class ImportEffects:
    """The import's effect on clusters, as the write will find it."""

    clusters_created: int
    """Clusters made only of imported contacts."""
    clusters_grown: int
    """Stored clusters that gain imported contacts."""
    merges: list[list[int]]
    """Per resulting cluster that joins two stored clusters or more, their stored primaries."""
    relinked_ids: list[int]
    """Stored contacts whose cluster or primary changes."""


def touched_components(
    *, graph: ContactGraph, plan: ImportPlan, progress: Callable[[int], object], chunk: int
) -> list[TouchedComponent]:
    """The components the import grows, with their stored and imported members: one pass over
    the stored contacts (``progress`` is told every ``chunk`` of them)."""
    first = plan.first_position
    components: dict[int, TouchedComponent] = {}
    for position in range(first, len(graph)):
        root = graph.component(position)
        if root not in components:
            components[root] = TouchedComponent(first_new=position)
    for row in plan.links:
        root = graph.sets.find(graph.node("email", row.email))
        components.setdefault(root, TouchedComponent())
    for start in range(0, first, chunk):
        for position in range(start, min(start + chunk, first)):
            component = components.get(graph.component(position))
            if component is not None:
                component.stored.append(position)
        progress(min(chunk, first - start))
    return list(components.values())


def import_effects(
    *,
    graph: ContactGraph,
    plan: ImportPlan,
    components: list[TouchedComponent],
    created_at: Mapping[int, datetime],
) -> ImportEffects:
    """Count new, grown and merged clusters and list the stored contacts relinked.

    ``created_at`` holds the created time of the oldest stored contact of each component that
    also gains imported contacts (``stored_leader_ids``): the graph keeps no times.
    """
    created = grown = 0
    merges, relinked = [], []
    contact_ids, linked_ids = graph.contact_ids, graph.linked_ids
    for component in components:
        if not component.stored:
            created += 1
            continue
        grown += component.first_new is not None
        primaries = {linked_ids[p] or contact_ids[p] for p in component.stored}
        if len(primaries) > 1:
            merges.append(sorted(primaries))
        leader = contact_ids[component.stored[0]]
        if _imported_leads(
            plan=plan, component=component, leader_created_at=created_at.get(leader)
        ):
            relinked.extend(contact_ids[p] for p in component.stored)
            continue
        for position in component.stored:
            elected = NO_LINK if contact_ids[position] == leader else leader
            if linked_ids[position] != elected:
                relinked.append(contact_ids[position])
    return ImportEffects(
        clusters_created=created,
        clusters_grown=grown,
        merges=sorted(merges),
        relinked_ids=sorted(relinked),
    )


def stored_leader_ids(*, graph: ContactGraph, components: list[TouchedComponent]) -> list[int]:
    """The oldest stored contact of each component that mixes stored and imported contacts:
    whose created time decides who leads it."""
    return [
        graph.contact_ids[component.stored[0]]
        for component in components
        if component.stored and component.first_new is not None
    ]


def _imported_leads(
    *, plan: ImportPlan, component: TouchedComponent, leader_created_at: datetime | None
) -> bool:
    if component.first_new is None:
        return False
    oldest_new = plan.contacts[component.first_new - plan.first_position]
    return oldest_new.created_at < leader_created_at
