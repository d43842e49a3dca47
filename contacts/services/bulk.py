"""Whole-table work of the operator commands: the repairs of ``manage.py reconcile`` and the bulk
import of ``manage.py import_contacts``.
"""

from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from django.db import transaction
from django.utils import timezone

from contacts.db import backend
from contacts.graph import NO_LINK, ContactGraph
from contacts.locking import lock_contacts_table
from contacts.models import (
    Contact,
    IdentityLink,
    LinkPrecedence,
    Source,
)
from contacts.rules import (
    ImportPlan,
    ImportRow,
    OversizedCluster,
    oversized_components,
    plan_import,
)
from contacts.rules.import_effects import (
    ImportEffects,
    import_effects,
    stored_leader_ids,
    touched_components,
)
from contacts.selectors.checks import (
    Progress,
    Relink,
    contact_graph_load,
    no_progress,
    stored_policy,
)
from contacts.services.repairs import clusters_reconcile, identifiers_canonicalize


def relinks_repair(
    *, relinks: Sequence[Relink], batch_size: int, progress: Progress = no_progress
) -> list[int]:
    """Fix the clusters of ``relinks``, whole clusters at a time, ``batch_size`` contacts a batch.

    ``relinks`` come from a read without locks; each batch is a ``clusters_reconcile``
    transaction, which locks the clusters as ``/identify/`` does, reads them again and writes only
    what still differs (docs/concurrency.md). Returns the ids of the contacts it changed.
    """
    by_cluster: dict[int, list[int]] = {}
    for relink in relinks:
        by_cluster.setdefault(relink.linked_id or relink.contact_id, []).append(relink.contact_id)
    relinked: list[int] = []

    def repair(batch: list[int]) -> None:
        relinked.extend(clusters_reconcile(contact_ids=batch, source=Source.COMMAND).relinked_ids)
        progress(len(batch))

    batch: list[int] = []
    for contact_ids in by_cluster.values():
        batch.extend(contact_ids)
        if len(batch) >= batch_size:
            repair(batch)
            batch = []
    if batch:
        repair(batch)
    return relinked


def link_flags_repair(*, stale: Sequence[tuple[int, bool]]) -> int:
    """Give link records the ``blocked`` flag the stored blocklist says
    (``selectors.checks.stale_link_flags``); returns how many changed."""
    changed = 0
    for blocked in (True, False):
        ids = [link_id for link_id, flag in stale if flag is blocked]
        changed += (
            IdentityLink.objects.filter(id__in=ids).exclude(blocked=blocked).update(blocked=blocked)
        )
    return changed


def identifiers_repair(
    *, contact_ids: Sequence[int], batch_size: int, progress: Progress = no_progress
) -> int:
    """Bring these contacts (``selectors.checks.not_canonical_contact_ids``) to canonical form,
    ``batch_size`` a transaction, merging what now matches; returns how many changed."""
    changed = 0
    for start in range(0, len(contact_ids), batch_size):
        batch = contact_ids[start : start + batch_size]
        result = identifiers_canonicalize(contact_ids=batch, source=Source.COMMAND)
        changed += len(result.changed_ids)
        progress(len(batch))
    return changed


class Phases(Protocol):
    """Told that a phase of the work begins, and how many ``unit`` it counts; returns the
    ``Progress`` of that phase. The commands pass their progress bars (``management.progress``)."""

    def __call__(self, name: str, *, total: int, unit: str) -> Progress: ...


def no_phases(name: str, *, total: int, unit: str) -> Progress:
    """The default ``Phases``: report nothing."""
    return no_progress


@dataclass(frozen=True)
class ImportResult:
    """What an import wrote, or would write on a dry run: every figure comes from the plan, so a
    dry run and the write of the same rows over the same stored rows report the same."""

    contacts_created: int
    links_created: int
    unchanged: int
    clusters_created: int
    """Clusters made only of imported contacts."""
    clusters_grown: int
    """Stored clusters that gained imported contacts."""
    merges: list[list[int]]
    """Per resulting cluster that joins two stored clusters or more, their stored primaries."""
    relinked_ids: list[int]
    """Stored contacts whose cluster or primary changes."""
    blocked: int = 0
    """Rows whose every value is blocked: not imported (docs/governance.md)."""
    never_linked: int = 0
    """Rows that would join a pair a person rejected for good: not imported."""
    oversized: list[OversizedCluster] = field(default_factory=list)
    """Clusters the import takes past their size limit."""
    written: bool = False
    """Whether the import was written: not on a dry run, nor when ``oversized`` was refused."""


def contacts_import(
    *,
    rows: list[ImportRow],
    label: str,
    write: bool,
    chunk_size: int,
    phases: Phases = no_phases,
    allow_large_clusters: bool = False,
) -> ImportResult:
    """Import order-history rows as if each were sent to ``/identify/``, oldest first, in bulk.

    The rows are applied after everything already stored; each new contact keeps its row's
    created time, so a cluster is led by its oldest contact, imported or not (SPEC §2). Decided
    over an in-memory graph (``rules.plan_import``), written in a few bulk statements of
    ``chunk_size`` rows. History: one event per cluster that gained contacts, listing them
    (``label`` names the import). The tables are analyzed once written, so that what follows (the
    stored clusters' reconciliation, then the API) is planned from what they now hold.

    Blocked values and never-link pairs are applied as ``/identify/`` applies them. An import that
    would take a cluster past its size limit (``IDENTITY_MAX_CLUSTER_SIZE``) writes nothing unless
    ``allow_large_clusters``: the result lists those clusters (docs/governance.md).

    Without ``write`` this only reads and decides. With it, on PostgreSQL, the contacts table is
    locked in ``EXCLUSIVE`` mode for the transaction: ``/identify/`` keeps answering lookups but its
    writes wait until the import commits (docs/concurrency.md). ``phases`` is told of the loading,
    planning, writing and reconciling phases as each begins.
    """
    if not write:
        return _import_plan(rows=rows, chunk_size=chunk_size, phases=phases).result()
    with transaction.atomic():
        lock_contacts_table()
        planned = _import_plan(rows=rows, chunk_size=chunk_size, phases=phases)
        if planned.oversized and not allow_large_clusters:
            return planned.result()
        touched = _import_write(
            graph=planned.graph,
            plan=planned.plan,
            label=label,
            batch_size=chunk_size,
            progress=phases(
                "writing", total=len(planned.plan.contacts) + len(planned.plan.links), unit="rows"
            ),
        )
        if planned.plan.contacts or planned.plan.links:
            backend().tables_analyze(models=[Contact, IdentityLink])
        seeds = sorted(touched)
        progress = phases("reconciling", total=len(seeds), unit="clusters")
        for start in range(0, len(seeds), chunk_size):
            batch = seeds[start : start + chunk_size]
            clusters_reconcile(contact_ids=batch, source=Source.COMMAND)
            progress(len(batch))
    return planned.result(written=True)


@dataclass(frozen=True)
class _PlannedImport:
    graph: ContactGraph
    plan: ImportPlan
    effects: ImportEffects
    oversized: list[OversizedCluster]

    def result(self, *, written: bool = False) -> ImportResult:
        plan, effects = self.plan, self.effects
        return ImportResult(
            contacts_created=len(plan.contacts),
            links_created=len(plan.links),
            unchanged=plan.unchanged,
            clusters_created=effects.clusters_created,
            clusters_grown=effects.clusters_grown,
            merges=effects.merges,
            relinked_ids=effects.relinked_ids,
            blocked=len(plan.blocked),
            never_linked=len(plan.never_linked),
            oversized=self.oversized,
            written=written,
        )


def _import_plan(*, rows: list[ImportRow], chunk_size: int, phases: Phases) -> _PlannedImport:
    """Load the stored graph, plan the rows over it, and decide what that does to the stored
    clusters: the same reads and decisions for a dry run and a write."""
    policy = stored_policy()
    graph = contact_graph_load(
        chunk_size=chunk_size,
        policy=policy,
        progress=phases("loading", total=Contact.live.count(), unit="contacts"),
    )
    progress = phases("planning", total=len(rows) + len(graph), unit="rows")
    plan = plan_import(graph=graph, rows=rows, policy=policy)
    progress(len(rows))
    components = touched_components(graph=graph, plan=plan, progress=progress, chunk=chunk_size)
    leader_ids = stored_leader_ids(graph=graph, components=components)
    effects = import_effects(
        graph=graph,
        plan=plan,
        components=components,
        created_at=_created_at(contact_ids=leader_ids, chunk_size=chunk_size),
    )
    oversized = oversized_components(graph=graph, plan=plan, policy=policy)
    return _PlannedImport(graph=graph, plan=plan, effects=effects, oversized=oversized)


def _created_at(*, contact_ids: list[int], chunk_size: int) -> dict[int, datetime]:
    created_at: dict[int, datetime] = {}
    for start in range(0, len(contact_ids), chunk_size):
        batch = contact_ids[start : start + chunk_size]
        created_at.update(Contact.objects.filter(id__in=batch).values_list("id", "created_at"))
    return created_at


def _new_positions(graph: ContactGraph, plan: ImportPlan) -> range:
    return range(plan.first_position, len(graph))


def _counted(rows: Iterable[tuple], *, every: int, progress: Progress) -> Iterator[tuple]:
    """``rows``, telling ``progress`` of each ``every`` of them as they are consumed."""
    count = 0
    for row in rows:
        yield row
        count += 1
        if count == every:
            progress(count)
            count = 0
    progress(count)


def _import_write(
    *, graph: ContactGraph, plan: ImportPlan, label: str, batch_size: int, progress: Progress
) -> set[int]:
    """Insert the planned contacts, link records and history; returns one stored contact of
    each stored cluster the import touched.

    New contacts are linked to the oldest new contact of their component. A component that
    already had stored contacts is handed back so that ``clusters_reconcile`` elects its primary
    from the stored ``created_at`` values.
    """
    db = backend()
    ids = db.reserve_contact_ids(count=len(plan.contacts))
    positions = _new_positions(graph, plan)
    for position, contact_id in zip(positions, ids, strict=True):
        graph.contact_ids[position] = contact_id
    leaders = graph.leaders()
    now = timezone.now()
    touched: set[int] = set()
    linked_ids = array("q")
    for position in positions:
        root = graph.component(position)
        leader = leaders[root]
        if leader == position:
            linked_ids.append(NO_LINK)
        elif leader >= plan.first_position:
            linked_ids.append(graph.contact_ids[leader])
        else:
            linked_ids.append(graph.linked_ids[leader] or graph.contact_ids[leader])
            touched.add(graph.contact_ids[leader])
    contacts = (
        (
            contact_id,
            row.email,
            row.phone_number,
            linked_id or None,
            LinkPrecedence.SECONDARY.value if linked_id else LinkPrecedence.PRIMARY.value,
            row.created_at,
            now,
        )
        for contact_id, row, linked_id in zip(ids, plan.contacts, linked_ids, strict=True)
    )
    db.bulk_insert(
        model=Contact,
        fields=[
            "id",
            "email",
            "phone_number",
            "linked_id",
            "link_precedence",
            "created_at",
            "updated_at",
        ],
        rows=_counted(contacts, every=batch_size, progress=progress),
        batch_size=batch_size,
    )
    for row in plan.links:
        leader = leaders[graph.sets.find(graph.node("email", row.email))]
        if leader < plan.first_position:
            touched.add(graph.contact_ids[leader])
    IdentityLink.objects.bulk_create(
        [
            IdentityLink(
                email=row.email,
                phone_number=row.phone_number,
                source=Source.COMMAND,
                created_at=row.created_at,
            )
            for row in plan.links
        ],
        ignore_conflicts=True,
        batch_size=batch_size,
    )
    progress(len(plan.links))
    db.record_import_history(
        contact_ids=ids, linked_ids=linked_ids, label=label, now=now, batch_size=batch_size
    )
    return touched
