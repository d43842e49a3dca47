"""Which primary every contact of a set of whole components should have (SPEC §2, §3), and how the
resulting clusters came about: what corrections and ``reconcile`` write, and record in history."""

from dataclasses import dataclass

from contacts.governance import OPEN_POLICY, Policy
from contacts.graph import elect_primaries
from contacts.models import EventKind
from contacts.rows import ContactRow


@dataclass(frozen=True, slots=True)
class LinkChange:
    """One contact whose link must change; ``linked_id`` ``None`` makes it a primary."""

    contact_id: int
    linked_id: int | None


def plan_relinks(
    *, rows: list[ContactRow], links: list[tuple[str, str]], policy: Policy = OPEN_POLICY
) -> tuple[dict[int, int], list[LinkChange]]:
    """The primary every live contact should have (SPEC §3, §2), and the links that differ.

    ``rows`` must hold whole components: every live contact reachable from any of them.
    """
    elected = elect_primaries(contacts=rows, links=links, blocklist=policy.blocklist)
    changes = []
    for row in rows:
        linked_id = None if elected[row.id] == row.id else elected[row.id]
        if row.linked_id != linked_id:
            changes.append(LinkChange(contact_id=row.id, linked_id=linked_id))
    return elected, changes


@dataclass(frozen=True, slots=True)
class ClusterChange:
    """How one resulting cluster came about: what its history records."""

    kind: EventKind
    primary_id: int
    previous_primary_ids: list[int]
    relinked_ids: list[int]


def describe_relinks(
    *, rows: list[ContactRow], elected: dict[int, int], changes: list[LinkChange], repair: bool
) -> list[ClusterChange]:
    """One entry per resulting cluster that changed: merged, split off, or repaired.

    A cluster whose primary was a secondary before has split off; one that gathers contacts of
    several former primaries has merged them. ``repair`` (the ``reconcile`` command) records every
    change as a repair instead.
    """
    by_id = {row.id: row for row in rows}
    changed_by_primary: dict[int, list[int]] = {}
    for change in changes:
        changed_by_primary.setdefault(elected[change.contact_id], []).append(change.contact_id)
    descriptions = []
    for primary_id, relinked_ids in sorted(changed_by_primary.items()):
        members = [row for row in rows if elected[row.id] == primary_id]
        previous = sorted({row.root_id for row in members})
        if repair:
            kind = EventKind.REPAIRED
        elif by_id[primary_id].linked_id is not None:
            kind = EventKind.SPLIT
        elif len(previous) > 1:
            kind = EventKind.MERGED
        else:
            kind = EventKind.REPAIRED
        descriptions.append(
            ClusterChange(
                kind=kind,
                primary_id=primary_id,
                previous_primary_ids=previous,
                relinked_ids=sorted(relinked_ids),
            )
        )
    return descriptions
