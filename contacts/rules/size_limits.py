"""The size limit of identities (docs/governance.md) for the writers that change many contacts at
once: a correction must not grow an identity past it; an import lists the ones it would."""

from dataclasses import dataclass
from itertools import compress

from contacts.governance import Policy
from contacts.graph import ContactGraph
from contacts.rows import ContactRow
from contacts.rules.imports import ImportPlan


@dataclass(frozen=True, slots=True)
class OversizedCluster:
    """A cluster a write would take past its size limit (docs/governance.md)."""

    contact_id: int | None
    """Its primary, or for an import its oldest stored contact; ``None`` for a cluster made only
    of imported contacts."""
    size: int
    limit: int


def grown_past_limit(
    *, before: list[ContactRow], elected: dict[int, int], policy: Policy
) -> list[OversizedCluster]:
    """The clusters of ``elected`` (a correction's result) larger than every cluster they were
    made from and than their limit: a correction must not grow an identity past it."""
    if not policy.max_size:
        return []
    before_sizes: dict[int, int] = {}
    for row in before:
        before_sizes[row.root_id] = before_sizes.get(row.root_id, 0) + 1
    roots = {row.id: row.root_id for row in before}
    members: dict[int, list[int]] = {}
    for contact_id, primary_id in elected.items():
        members.setdefault(primary_id, []).append(contact_id)
    oversized = []
    for primary_id, contact_ids in sorted(members.items()):
        size = len(contact_ids)
        largest_before = max(
            (before_sizes[roots[contact_id]] for contact_id in contact_ids if contact_id in roots),
            default=0,
        )
        if size > largest_before and size > policy.limit_for(contact_ids):
            limit = policy.limit_for(contact_ids)
            oversized.append(OversizedCluster(contact_id=primary_id, size=size, limit=limit))
    return oversized


def oversized_components(
    *, graph: ContactGraph, plan: ImportPlan, policy: Policy
) -> list[OversizedCluster]:
    """The components an import grows (with new contacts or link records) that pass their limit,
    largest first; none when ``policy`` has no limit. Passes over the new contacts only when some
    component is past ``max_size`` at all."""
    if not policy.max_size:
        return []
    _, sizes = graph.leaders_and_sizes()
    large = set(compress(range(len(sizes)), map(policy.max_size.__lt__, sizes)))
    if not large:
        return []
    first_position = plan.first_position
    grown = {graph.sets.find(graph.node("email", row.email)) for row in plan.links} & large
    for position in range(first_position, len(graph)):
        root = graph.component(position)
        if root in large:
            grown.add(root)
    stored: dict[int, list[int]] = {root: [] for root in grown}
    for position in range(first_position):
        root = graph.component(position)
        if root in stored:
            stored[root].append(graph.contact_ids[position])
    oversized = []
    for root in grown:
        limit = policy.limit_for(stored[root])
        if sizes[root] > limit:
            contact_id = stored[root][0] if stored[root] else None
            oversized.append(OversizedCluster(contact_id=contact_id, size=sizes[root], limit=limit))
    return sorted(oversized, key=lambda cluster: -cluster.size)
