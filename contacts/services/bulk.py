"""Whole-table work of the operator commands: the repairs of ``manage.py reconcile`` and the bulk
import of ``manage.py import_contacts``.
"""

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, models, transaction
from django.db.models import Max
from django.utils import timezone

from contacts.database import (
    tables_analyze,
)
from contacts.graph import NO_LINK, ContactGraph
from contacts.models import (
    ClusterEvent,
    Contact,
    EventKind,
    IdentityLink,
    LinkPrecedence,
    Source,
)
from contacts.rules import (
    ImportPlan,
    ImportRow,
    plan_import,
)
from contacts.selectors.checks import Progress, Relink, contact_graph_load, no_progress
from contacts.services.corrections import clusters_reconcile


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


def contacts_import(
    *,
    rows: list[ImportRow],
    label: str,
    write: bool,
    chunk_size: int,
    progress: Progress = no_progress,
) -> ImportResult:
    """Import order-history rows as if each were sent to ``/identify/``, oldest first, in bulk.

    The rows are applied after everything already stored; each new contact keeps its row's
    created time, so a cluster is led by its oldest contact, imported or not (SPEC §2). Decided
    over an in-memory graph (``rules.plan_import``), written in a few bulk statements. History:
    one event per cluster that gained contacts, listing them (``label`` names the import). The
    tables are analyzed once written, so that what follows (the stored clusters' reconciliation,
    then the API) is planned from what they now hold.

    Without ``write`` this only reads and decides. With it, on PostgreSQL, the contacts table is
    locked in ``EXCLUSIVE`` mode for the transaction: ``/identify/`` keeps answering lookups but its
    writes wait until the import commits (docs/concurrency.md).
    """
    if not write:
        graph = contact_graph_load(chunk_size=chunk_size, progress=progress)
        plan = plan_import(graph=graph, rows=rows)
        clusters = {graph.component(position) for position in _new_positions(graph, plan)}
        return _import_result(plan=plan, clusters=len(clusters), relinked_ids=[])
    with transaction.atomic():
        _lock_contacts_table()
        graph = contact_graph_load(chunk_size=chunk_size, progress=progress)
        plan = plan_import(graph=graph, rows=rows)
        clusters, touched = _import_write(
            graph=graph, plan=plan, label=label, batch_size=chunk_size
        )
        if plan.contacts or plan.links:
            tables_analyze(models=[Contact, IdentityLink])
        seeds = sorted(touched)
        relinked = []
        for start in range(0, len(seeds), chunk_size):
            batch = seeds[start : start + chunk_size]
            relinked += clusters_reconcile(contact_ids=batch, source=Source.COMMAND).relinked_ids
    return _import_result(plan=plan, clusters=clusters, relinked_ids=sorted(relinked))


def _import_result(*, plan: ImportPlan, clusters: int, relinked_ids: list[int]) -> ImportResult:
    return ImportResult(
        contacts_created=len(plan.contacts),
        links_created=len(plan.links),
        unchanged=plan.unchanged,
        clusters=clusters,
        relinked_ids=relinked_ids,
    )


def _new_positions(graph: ContactGraph, plan: ImportPlan) -> range:
    return range(plan.first_position, len(graph))


def _lock_contacts_table() -> None:
    """Hold off every other writer of contacts until the transaction ends (PostgreSQL only).

    ``EXCLUSIVE`` conflicts with the row locks and inserts of ``/identify/`` but not with plain
    reads. Taken before anything else in the transaction, so it cannot join a deadlock.
    """
    if connection.vendor != "postgresql":
        return
    table = connection.ops.quote_name(Contact._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")


def _import_write(
    *, graph: ContactGraph, plan: ImportPlan, label: str, batch_size: int
) -> tuple[int, set[int]]:
    """Insert the planned contacts, link records and history; returns the number of clusters
    that gained contacts and one stored contact of each stored cluster the import touched.

    New contacts are linked to the oldest new contact of their component. A component that
    already had stored contacts is handed back so that ``clusters_reconcile`` elects its primary
    from the stored ``created_at`` values.
    """
    ids = _reserve_contact_ids(count=len(plan.contacts))
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
    _bulk_insert(
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
    _record_import_history(
        contact_ids=ids, linked_ids=linked_ids, label=label, now=now, batch_size=batch_size
    )
    return len(roots), touched


# The history of an import, grouped by the database from the rows just inserted.
_IMPORT_HISTORY_SQL = """
    INSERT INTO contacts_clusterevent (kind, source, contact_id, primary_id, details, created_at)
    SELECT CASE WHEN min(id) = root THEN %(created)s ELSE %(added)s END, %(source)s, min(id), root,
           jsonb_build_object('import', %(label)s::text, 'contacts', jsonb_agg(id ORDER BY id)),
           %(now)s
    FROM (SELECT id, COALESCE(linked_id, id) AS root FROM contacts_contact WHERE id = ANY(%(ids)s))
         AS imported
    GROUP BY root
    ORDER BY min(id)
"""


def _record_import_history(
    *,
    contact_ids: list[int],
    linked_ids: Sequence[int],
    label: str,
    now: datetime,
    batch_size: int,
) -> None:
    """One event per cluster that gained contacts, listing them: ``primary_created`` for a new
    cluster, ``secondary_added`` for a stored one (whose primary ``clusters_reconcile`` may
    change next). One statement on PostgreSQL, so that no row of history goes through Python.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _IMPORT_HISTORY_SQL,
                {
                    "created": EventKind.PRIMARY_CREATED.value,
                    "added": EventKind.SECONDARY_ADDED.value,
                    "source": Source.COMMAND.value,
                    "label": label,
                    "now": now,
                    "ids": contact_ids,
                },
            )
        return
    members: dict[int, list[int]] = {}
    for contact_id, linked_id in zip(contact_ids, linked_ids, strict=True):
        members.setdefault(linked_id or contact_id, []).append(contact_id)
    ClusterEvent.objects.bulk_create(
        (
            ClusterEvent(
                kind=EventKind.PRIMARY_CREATED if root == ids[0] else EventKind.SECONDARY_ADDED,
                source=Source.COMMAND,
                contact_id=ids[0],
                primary_id=root,
                details={"import": label, "contacts": ids},
                created_at=now,
            )
            for root, ids in members.items()
        ),
        batch_size=batch_size,
    )


def _reserve_contact_ids(*, count: int) -> list[int]:
    """``count`` new contact ids, ascending, so that imported contacts are ordered as their rows.

    On PostgreSQL they come from the id sequence; on SQLite the transaction holds the database,
    so the ids after the highest one are free.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [Contact._meta.db_table, Contact._meta.pk.column, count],
            )
            return sorted(contact_id for (contact_id,) in cursor.fetchall())
    start = (Contact.objects.aggregate(highest=Max("id"))["highest"] or 0) + 1
    return list(range(start, start + count))


def _bulk_insert(
    *, model: type[models.Model], fields: list[str], rows: Iterable[tuple], batch_size: int
) -> None:
    """Insert rows of ``fields`` values: ``COPY`` on PostgreSQL, ``bulk_create`` elsewhere."""
    if connection.vendor != "postgresql":
        model.objects.bulk_create(
            (model(**dict(zip(fields, row, strict=True))) for row in rows), batch_size=batch_size
        )
        return
    meta = model._meta
    columns = ", ".join(connection.ops.quote_name(meta.get_field(name).column) for name in fields)
    table = connection.ops.quote_name(meta.db_table)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)
