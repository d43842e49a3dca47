"""Whole-table work of the operator commands: the repairs of ``manage.py reconcile`` and the bulk
import of ``manage.py import_contacts``.
"""

from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field

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
from contacts.selectors.checks import (
    Progress,
    Relink,
    contact_graph_load,
    no_progress,
    stored_policy,
)
from contacts.services.corrections import clusters_reconcile, identifiers_canonicalize


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


@dataclass(frozen=True)
class ImportResult:
    """What an import wrote, or would write on a dry run."""

    contacts_created: int
    links_created: int
    unchanged: int
    clusters: int
    """Clusters that gained imported contacts."""
    relinked_ids: list[int]
    """Contacts already stored that changed cluster or primary (empty on a dry run)."""
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
    progress: Progress = no_progress,
    allow_large_clusters: bool = False,
) -> ImportResult:
    """Import order-history rows as if each were sent to ``/identify/``, oldest first, in bulk.

    The rows are applied after everything already stored; each new contact keeps its row's
    created time, so a cluster is led by its oldest contact, imported or not (SPEC §2). Decided
    over an in-memory graph (``rules.plan_import``), written in a few bulk statements. History:
    one event per cluster that gained contacts, listing them (``label`` names the import). The
    tables are analyzed once written, so that what follows (the stored clusters' reconciliation,
    then the API) is planned from what they now hold.

    Blocked values and never-link pairs are applied as ``/identify/`` applies them. An import that
    would take a cluster past its size limit (``IDENTITY_MAX_CLUSTER_SIZE``) writes nothing unless
    ``allow_large_clusters``: the result lists those clusters (docs/governance.md).

    Without ``write`` this only reads and decides. With it, on PostgreSQL, the contacts table is
    locked in ``EXCLUSIVE`` mode for the transaction: ``/identify/`` keeps answering lookups but its
    writes wait until the import commits (docs/concurrency.md).
    """
    db = backend()
    if not write:
        graph, plan, oversized = _import_plan(rows=rows, chunk_size=chunk_size, progress=progress)
        clusters = {graph.component(position) for position in _new_positions(graph, plan)}
        return _import_result(plan=plan, clusters=len(clusters), oversized=oversized)
    with transaction.atomic():
        lock_contacts_table()
        graph, plan, oversized = _import_plan(rows=rows, chunk_size=chunk_size, progress=progress)
        if oversized and not allow_large_clusters:
            clusters = {graph.component(position) for position in _new_positions(graph, plan)}
            return _import_result(plan=plan, clusters=len(clusters), oversized=oversized)
        clusters, touched = _import_write(
            graph=graph, plan=plan, label=label, batch_size=chunk_size
        )
        if plan.contacts or plan.links:
            db.tables_analyze(models=[Contact, IdentityLink])
        seeds = sorted(touched)
        relinked = []
        for start in range(0, len(seeds), chunk_size):
            batch = seeds[start : start + chunk_size]
            relinked += clusters_reconcile(contact_ids=batch, source=Source.COMMAND).relinked_ids
    return _import_result(
        plan=plan,
        clusters=clusters,
        oversized=oversized,
        relinked_ids=sorted(relinked),
        written=True,
    )


def _import_plan(
    *, rows: list[ImportRow], chunk_size: int, progress: Progress
) -> tuple[ContactGraph, ImportPlan, list[OversizedCluster]]:
    policy = stored_policy()
    graph = contact_graph_load(chunk_size=chunk_size, policy=policy, progress=progress)
    plan = plan_import(graph=graph, rows=rows, policy=policy)
    oversized = oversized_components(graph=graph, plan=plan, policy=policy)
    return graph, plan, oversized


def _import_result(
    *,
    plan: ImportPlan,
    clusters: int,
    oversized: list[OversizedCluster],
    relinked_ids: Sequence[int] = (),
    written: bool = False,
) -> ImportResult:
    return ImportResult(
        contacts_created=len(plan.contacts),
        links_created=len(plan.links),
        unchanged=plan.unchanged,
        clusters=clusters,
        relinked_ids=list(relinked_ids),
        blocked=len(plan.blocked),
        never_linked=len(plan.never_linked),
        oversized=oversized,
        written=written,
    )


def _new_positions(graph: ContactGraph, plan: ImportPlan) -> range:
    return range(plan.first_position, len(graph))


def _import_write(
    *, graph: ContactGraph, plan: ImportPlan, label: str, batch_size: int
) -> tuple[int, set[int]]:
    """Insert the planned contacts, link records and history; returns the number of clusters
    that gained contacts and one stored contact of each stored cluster the import touched.

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
    roots: set[int] = set()
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
        roots.add(root)
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
        rows=contacts,
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
    db.record_import_history(
        contact_ids=ids, linked_ids=linked_ids, label=label, now=now, batch_size=batch_size
    )
    return len(roots), touched
