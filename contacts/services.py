"""The only code that writes contact links (SPEC §4, §5).

``contact_identify`` is what ``POST /identify/`` runs. It first reads the matched clusters without a
transaction: most requests only look up an identity and are answered from that one statement. A
request that must write runs a transaction that locks what it will change and applies the rules only
to clusters that are, under the locks, what it read. The protocol is in docs/concurrency.md.
"""

import json
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from operator import attrgetter

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection, models, transaction
from django.db.models import Max, Q
from django.db.models.functions import Now
from django.utils import timezone

from contacts.database import (
    TABLE_GROWTH_COLUMNS,
    TableGrowth,
    plans_for_values,
    statistics_follow_growth,
    tables_analyze,
)
from contacts.graph import NO_LINK, ContactGraph, identifier_nodes
from contacts.locking import (
    MAX_LOCK_ROUNDS,
    LocksChanged,
    identifier_lock_key,
    lock_clusters,
    plan_under_locks,
    run_with_retries,
    uses_row_locks,
    write_turn,
)
from contacts.models import (
    ClusterEvent,
    Contact,
    EventKind,
    IdentityLink,
    LinkPrecedence,
    Source,
)
from contacts.rules import (
    ClusterChange,
    IdentifyPlan,
    ImportPlan,
    ImportRow,
    LinkChange,
    Outcome,
    describe_relinks,
    plan_identify,
    plan_import,
    plan_relinks,
)
from contacts.selectors import (
    PG_CLUSTER_CTE,
    ContactRow,
    ContactState,
    cluster_rows,
    contact_states,
    identity_link_pairs,
    live_contacts_by_age,
    load_datetimes_in_c,
    neighbourhood_rows,
)


@dataclass(frozen=True)
class Identity:
    """The consolidated identity an ``/identify/`` request answers with (SPEC §4)."""

    primary_id: int
    emails: list[str]
    phone_numbers: list[str]
    secondary_ids: list[int]
    outcome: Outcome


def contact_identify(
    *, email: str | None, phone_number: str | None, source: Source = Source.API
) -> Identity:
    """Link a normalized email and/or phone number into its identity and return that identity.

    Must be called outside a transaction: it owns its transaction so that it can run it again after
    a lost race, a deadlock or a lost connection (running it twice is harmless: it is idempotent).
    """
    if email is None and phone_number is None:
        raise ValueError("contact_identify needs an email or a phone number")
    return run_with_retries(
        lambda attempt: _identify(email=email, phone_number=phone_number, source=source),
        attempts=settings.IDENTIFY_MAX_ATTEMPTS,
    )


def _identify(*, email: str | None, phone_number: str | None, source: Source) -> Identity:
    """Answer from one unlocked read when nothing is to be written; else lock, check and write."""
    plan = _plan(email=email, phone_number=phone_number)
    if not plan.writes:
        return identity_from_rows(rows=plan.rows, primary_id=plan.primary.id, outcome=plan.outcome)
    return _identify_locked(email=email, phone_number=phone_number, source=source, hint=plan)


def _plan(*, email: str | None, phone_number: str | None) -> IdentifyPlan:
    rows = cluster_rows(email=email, phone_number=phone_number)
    return plan_identify(rows=rows, email=email, phone_number=phone_number)


def _locks_needed(plan: IdentifyPlan) -> tuple[set[int], set[int]]:
    """Advisory lock keys of the identifiers the plan creates, and the primaries it changes."""
    keys = {identifier_lock_key(kind=kind, value=value) for kind, value in plan.new_identifiers}
    return keys, set(plan.cluster_ids) if plan.writes else set()


def _identify_locked(
    *, email: str | None, phone_number: str | None, source: Source, hint: IdentifyPlan
) -> Identity:
    """Lock what the request will change, and apply the plan if the clusters are still as read.

    The first locks are taken in the global order and may wait. On PostgreSQL the write is one
    statement that re-reads the clusters and writes only if they are unchanged; if they moved, the
    transaction reads them again, takes what the new plan adds without waiting (or starts over),
    and tries again (docs/concurrency.md).
    """
    with write_turn(), transaction.atomic():
        if not uses_row_locks():
            # BEGIN IMMEDIATE holds the whole database: read again, then write.
            return _apply(plan=_plan(email=email, phone_number=phone_number), source=source)
        plan = hint
        held_keys: set[int] = set()
        held_ids: set[int] = set()
        for round_ in range(MAX_LOCK_ROUNDS):
            if not plan.writes:
                return identity_from_rows(
                    rows=plan.rows, primary_id=plan.primary.id, outcome=plan.outcome
                )
            keys, ids = _locks_needed(plan)
            lock_clusters(keys=keys - held_keys, ids=ids - held_ids, wait=round_ == 0)
            held_keys |= keys
            held_ids |= ids
            identity = _apply_if_unchanged(plan=plan, source=source)
            if identity is not None:
                return identity
            plan = _plan(email=email, phone_number=phone_number)
        raise LocksChanged(f"clusters of {email!r} / {phone_number!r} kept changing")


# One statement that checks, with a snapshot taken after the locks are held, that the matched
# clusters are still exactly the rows the plan was made from, and only then writes the plan and its
# history (as _record_identify_events does on SQLite): the re-read under the locks, the writes and
# the history share one round trip, and nothing is read back.
_APPLY_IF_UNCHANGED_SQL = f"""
    WITH {PG_CLUSTER_CTE},
    unchanged AS (
        SELECT COALESCE(
            jsonb_agg(
                jsonb_build_array(
                    id, linked_id, email, phone_number,
                    (EXTRACT(EPOCH FROM created_at) * 1000000)::bigint
                )
                ORDER BY id
            ),
            '[]'
        ) = %(state)s::jsonb AS yes
        FROM cluster
    ),
    relinked AS (
        UPDATE {Contact._meta.db_table}
        SET linked_id = %(primary_id)s::bigint, link_precedence = 'secondary',
            updated_at = STATEMENT_TIMESTAMP()
        WHERE (SELECT yes FROM unchanged)
          AND deleted_at IS NULL
          AND (id = ANY(%(demoted_ids)s::bigint[]) OR linked_id = ANY(%(demoted_ids)s::bigint[]))
          AND id <> %(primary_id)s::bigint
    ),
    promoted AS (
        UPDATE {Contact._meta.db_table}
        SET linked_id = NULL, link_precedence = 'primary', updated_at = STATEMENT_TIMESTAMP()
        WHERE (SELECT yes FROM unchanged)
          AND %(demotes)s AND id = %(primary_id)s::bigint AND linked_id IS NOT NULL
    ),
    observed AS (
        INSERT INTO {IdentityLink._meta.db_table} (email, phone_number, source)
        SELECT %(email)s::varchar, %(phone_number)s::varchar, %(source)s::varchar
        WHERE (SELECT yes FROM unchanged) AND %(stores_link)s
        ON CONFLICT DO NOTHING
    ),
    created AS (
        INSERT INTO {Contact._meta.db_table} (email, phone_number, linked_id, link_precedence)
        SELECT %(email)s::varchar, %(phone_number)s::varchar, %(primary_id)s::bigint,
               %(precedence)s::varchar
        WHERE (SELECT yes FROM unchanged) AND %(creates)s
        RETURNING id, created_at
    ),
    merge_events AS (
        INSERT INTO {ClusterEvent._meta.db_table} (kind, source, contact_id, primary_id, details)
        SELECT %(merged_kind)s::varchar, %(source)s::varchar, loser, %(primary_id)s::bigint,
               jsonb_build_object(
                   'winner', %(primary_id)s::bigint, 'loser', loser, 'request', %(request)s::jsonb
               )
        FROM unnest(%(demoted_ids)s::bigint[]) AS loser
        WHERE (SELECT yes FROM unchanged)
    ),
    creation_event AS (
        INSERT INTO {ClusterEvent._meta.db_table} (kind, source, contact_id, primary_id, details)
        SELECT %(creation_kind)s::varchar, %(source)s::varchar, created.id,
               COALESCE(%(primary_id)s::bigint, created.id),
               jsonb_build_object('request', %(request)s::jsonb)
        FROM created
    )
    SELECT unchanged.yes, created.id, created.created_at, {TABLE_GROWTH_COLUMNS}
    FROM unchanged LEFT JOIN created ON TRUE
"""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# ``ContactRow.age_key`` as a C-level key function.
_BY_AGE = attrgetter("created_at", "id")


def _state(rows: list[ContactRow]) -> str:
    """The rows as ``_APPLY_IF_UNCHANGED_SQL`` aggregates the clusters it reads, for comparison."""
    return json.dumps(
        [
            [
                row.id,
                row.linked_id,
                row.email,
                row.phone_number,
                (row.created_at - _EPOCH) // timedelta(microseconds=1),
            ]
            for row in sorted(rows, key=lambda row: row.id)
        ]
    )


def _apply_if_unchanged(*, plan: IdentifyPlan, source: Source) -> Identity | None:
    """Write what ``plan`` says if its clusters are unchanged; ``None`` (nothing written) if not.

    PostgreSQL only; call with the plan's locks held.
    """
    primary = plan.primary
    params = {
        "email": plan.email,
        "phone_number": plan.phone_number,
        "state": _state(plan.rows),
        "primary_id": primary.id if primary else None,
        "demoted_ids": plan.demoted_ids,
        "demotes": bool(plan.demoted_ids) and primary.linked_id is not None,
        "stores_link": plan.stores_link,
        "source": source.value,
        "creates": plan.creates_contact,
        "precedence": LinkPrecedence.SECONDARY if primary else LinkPrecedence.PRIMARY,
        "request": json.dumps({"email": plan.email, "phone_number": plan.phone_number}),
        "merged_kind": EventKind.MERGED.value,
        "creation_kind": (
            EventKind.SECONDARY_ADDED if primary else EventKind.PRIMARY_CREATED
        ).value,
    }
    with connection.cursor() as cursor:
        load_datetimes_in_c(cursor)
        cursor.execute(_APPLY_IF_UNCHANGED_SQL, params)
        unchanged, new_id, created_at, *growth = cursor.fetchone()
    if not unchanged:
        return None
    if new_id is not None:
        statistics_follow_growth(TableGrowth(*growth))
    return _answer(plan=plan, new_id=new_id, created_at=created_at)


def _apply(*, plan: IdentifyPlan, source: Source) -> Identity:
    """Write what ``plan`` says, under the locks, and build the answer from rows already read."""
    primary = plan.primary
    contact = None
    if primary is not None and plan.demoted_ids:
        _merge_into(primary=primary, demoted_ids=plan.demoted_ids)
    if plan.stores_link:
        IdentityLink.objects.bulk_create(
            [IdentityLink(email=plan.email, phone_number=plan.phone_number, source=source)],
            ignore_conflicts=True,
        )
    if plan.creates_contact:
        contact = Contact.objects.create(
            email=plan.email,
            phone_number=plan.phone_number,
            linked_id=primary.id if primary else None,
            link_precedence=LinkPrecedence.SECONDARY if primary else LinkPrecedence.PRIMARY,
        )
    new_id = contact.id if contact else None
    _record_identify_events(plan=plan, new_contact_id=new_id, source=source)
    return _answer(plan=plan, new_id=new_id, created_at=contact.created_at if contact else None)


def _answer(*, plan: IdentifyPlan, new_id: int | None, created_at: datetime | None) -> Identity:
    """The identity after ``plan`` was written: the rows it was made from, plus the new contact."""
    if new_id is None:
        return identity_from_rows(rows=plan.rows, primary_id=plan.primary.id, outcome=plan.outcome)
    primary_id = plan.primary.id if plan.primary else new_id
    new_row = ContactRow(
        id=new_id,
        email=plan.email,
        phone_number=plan.phone_number,
        linked_id=plan.primary.id if plan.primary else None,
        created_at=created_at,
    )
    return identity_from_rows(
        rows=[*plan.rows, new_row], primary_id=primary_id, outcome=plan.outcome
    )


def _record_identify_events(
    *, plan: IdentifyPlan, new_contact_id: int | None, source: Source
) -> None:
    """The history of what one request changed, in the same transaction."""
    request = {"email": plan.email, "phone_number": plan.phone_number}
    events = [
        ClusterEvent(
            kind=EventKind.MERGED,
            source=source,
            contact_id=demoted_id,
            primary_id=plan.primary.id,
            details={"winner": plan.primary.id, "loser": demoted_id, "request": request},
        )
        for demoted_id in plan.demoted_ids
    ]
    if new_contact_id is not None:
        primary_id = plan.primary.id if plan.primary else new_contact_id
        events.append(
            ClusterEvent(
                kind=EventKind.SECONDARY_ADDED if plan.primary else EventKind.PRIMARY_CREATED,
                source=source,
                contact_id=new_contact_id,
                primary_id=primary_id,
                details={"request": request},
            )
        )
    ClusterEvent.objects.bulk_create(events)


def _merge_into(*, primary: ContactRow, demoted_ids: list[int]) -> None:
    """Link the demoted primaries and every live contact linked to them straight to ``primary``.

    Live only, so that ``linked_id`` is found through its partial index; a soft-deleted contact
    is relinked when it is restored.
    """
    Contact.live.filter(Q(id__in=demoted_ids) | Q(linked_id__in=demoted_ids)).exclude(
        id=primary.id
    ).update(linked_id=primary.id, link_precedence=LinkPrecedence.SECONDARY, updated_at=Now())
    if primary.linked_id is not None:
        Contact.objects.filter(id=primary.id).update(
            linked_id=None, link_precedence=LinkPrecedence.PRIMARY, updated_at=Now()
        )


def identity_from_rows(*, rows: list[ContactRow], primary_id: int, outcome: Outcome) -> Identity:
    """Consolidate the live rows of one cluster: the primary's values first, then by age.

    Written for clusters of thousands of rows: sorting by a C-level key and collecting values with
    list comprehensions takes a fraction of the time of per-row Python calls.
    """
    ordered = sorted(rows, key=_BY_AGE)
    primary = next(row for row in ordered if row.id == primary_id)
    emails = dict.fromkeys([primary.email, *[row.email for row in ordered]])
    phone_numbers = dict.fromkeys([primary.phone_number, *[row.phone_number for row in ordered]])
    emails.pop(None, None)
    phone_numbers.pop(None, None)
    return Identity(
        primary_id=primary_id,
        emails=list(emails),
        phone_numbers=list(phone_numbers),
        secondary_ids=sorted([row.id for row in rows if row.id != primary_id]),
        outcome=outcome,
    )


# --- Corrections and reconciliation ---------------------------------------------------------------


class CorrectionError(ValueError):
    """A correction that would break an invariant, such as a contact with no identifier left."""


@dataclass(frozen=True)
class Correction:
    """The new state of one contact; ``None`` fields keep what the contact has."""

    kind: EventKind
    email: str | None = None
    phone_number: str | None = None
    deleted: bool | None = None


@dataclass(frozen=True)
class ReconcilePlan:
    """A correction and the relinks it causes, read and decided under the locks."""

    target: ContactState | None
    corrected: ContactState | None
    rows: list[ContactRow]
    elected: dict[int, int]
    changes: list[LinkChange]
    new_identifiers: list[tuple[str, str]]

    @property
    def locked_ids(self) -> set[int]:
        roots = {row.root_id for row in self.rows}
        return roots | ({self.target.id} if self.target else set())


@dataclass(frozen=True)
class ReconcileResult:
    """What a correction or a reconciliation changed."""

    relinked_ids: list[int]
    clusters: list[ClusterChange]
    primary_ids: list[int]


def contact_edit(
    *,
    contact_id: int,
    email: str | None,
    phone_number: str | None,
    user: AbstractBaseUser | None = None,
    source: Source = Source.ADMIN,
) -> ReconcileResult:
    """Change a contact's email and phone number (already normalized), then reconcile around it.

    The edit may join clusters (the contact now shares an identifier with another cluster) or split
    its own (it no longer carries the identifier that held its cluster together).
    """
    if email is None and phone_number is None:
        raise CorrectionError("A contact needs an email or a phone number.")
    correction = Correction(kind=EventKind.EDITED, email=email, phone_number=phone_number)
    return _correct(contact_ids=[contact_id], correction=correction, user=user, source=source)


def contact_soft_delete(
    *, contact_id: int, user: AbstractBaseUser | None = None, source: Source = Source.ADMIN
) -> ReconcileResult:
    """Soft-delete a contact; the clusters it held together split, each led by its oldest."""
    correction = Correction(kind=EventKind.DELETED, deleted=True)
    return _correct(contact_ids=[contact_id], correction=correction, user=user, source=source)


def contact_restore(
    *, contact_id: int, user: AbstractBaseUser | None = None, source: Source = Source.ADMIN
) -> ReconcileResult:
    """Bring a soft-deleted contact back; it rejoins (and may merge) the clusters it links."""
    correction = Correction(kind=EventKind.RESTORED, deleted=False)
    return _correct(contact_ids=[contact_id], correction=correction, user=user, source=source)


def clusters_reconcile(
    *,
    contact_ids: Iterable[int],
    user: AbstractBaseUser | None = None,
    source: Source = Source.ADMIN,
) -> ReconcileResult:
    """Recompute the clusters of these contacts from stored rows; fix every link that differs."""
    return _correct(contact_ids=list(contact_ids), correction=None, user=user, source=source)


def _correct(
    *,
    contact_ids: list[int],
    correction: Correction | None,
    user: AbstractBaseUser | None,
    source: Source,
) -> ReconcileResult:
    def attempt(_: int) -> ReconcileResult:
        with transaction.atomic():
            plans_for_values()
            plan = plan_under_locks(
                plan=lambda: _plan_correction(contact_ids=contact_ids, correction=correction),
                locks_needed=lambda plan: (
                    {identifier_lock_key(kind=kind, value=v) for kind, v in plan.new_identifiers},
                    plan.locked_ids,
                ),
            )
            return _apply_correction(plan=plan, correction=correction, user=user, source=source)

    return run_with_retries(attempt, attempts=settings.IDENTIFY_MAX_ATTEMPTS)


def _plan_correction(*, contact_ids: list[int], correction: Correction | None) -> ReconcilePlan:
    states = contact_states(contact_ids=contact_ids)
    target = states[0] if correction else None
    corrected = _corrected_state(target, correction) if target and correction else None
    nodes = {node for state in states for node in state.nodes}
    if corrected is not None:
        nodes |= set(corrected.nodes)
    rows, links = neighbourhood_rows(root_ids={state.root_id for state in states}, nodes=nodes)
    after = [row for row in rows if corrected is None or row.id != corrected.id]
    if corrected is not None and corrected.deleted_at is None:
        after.append(corrected.row)
    elected, changes = plan_relinks(rows=after, links=links)
    present = {node for row in rows for node in (("email", row.email), ("phone", row.phone_number))}
    new_identifiers = [
        node for node in (corrected.nodes if corrected else []) if node not in present
    ]
    return ReconcilePlan(
        target=target,
        corrected=corrected,
        rows=after,
        elected=elected,
        changes=changes,
        new_identifiers=new_identifiers,
    )


def _corrected_state(state: ContactState, correction: Correction) -> ContactState:
    if correction.kind is EventKind.EDITED:
        return replace(state, email=correction.email, phone_number=correction.phone_number)
    return replace(state, deleted_at=timezone.now() if correction.deleted else None)


def _apply_correction(
    *,
    plan: ReconcilePlan,
    correction: Correction | None,
    user: AbstractBaseUser | None,
    source: Source,
) -> ReconcileResult:
    events = []
    target, corrected = plan.target, plan.corrected
    if correction is not None and target and corrected and _differs(target, corrected):
        Contact.objects.filter(id=target.id).update(
            email=corrected.email,
            phone_number=corrected.phone_number,
            deleted_at=corrected.deleted_at,
            updated_at=Now(),
        )
        events.append(
            ClusterEvent(
                kind=correction.kind,
                source=source,
                contact_id=target.id,
                primary_id=plan.elected.get(target.id, target.root_id),
                details={
                    "email": [target.email, corrected.email],
                    "phone_number": [target.phone_number, corrected.phone_number],
                },
                user=user,
            )
        )
    clusters = relinks_apply(
        rows=plan.rows, elected=plan.elected, changes=plan.changes, source=source, user=user
    )
    ClusterEvent.objects.bulk_create(events)
    return ReconcileResult(
        relinked_ids=sorted(change.contact_id for change in plan.changes),
        clusters=clusters,
        primary_ids=sorted(set(plan.elected.values())),
    )


def _differs(before: ContactState, after: ContactState) -> bool:
    return (before.email, before.phone_number, before.deleted_at is None) != (
        after.email,
        after.phone_number,
        after.deleted_at is None,
    )


def relinks_apply(
    *,
    rows: list[ContactRow],
    elected: dict[int, int],
    changes: list[LinkChange],
    source: Source,
    user: AbstractBaseUser | None = None,
) -> list[ClusterChange]:
    """Write link changes (an UPDATE per new primary) and their history, under held locks."""
    targets: dict[int | None, list[int]] = {}
    for change in changes:
        targets.setdefault(change.linked_id, []).append(change.contact_id)
    for linked_id, contact_ids in targets.items():
        precedence = LinkPrecedence.PRIMARY if linked_id is None else LinkPrecedence.SECONDARY
        Contact.objects.filter(id__in=contact_ids).update(
            linked_id=linked_id, link_precedence=precedence, updated_at=Now()
        )
    clusters = describe_relinks(
        rows=rows, elected=elected, changes=changes, repair=source == Source.COMMAND
    )
    ClusterEvent.objects.bulk_create(
        ClusterEvent(
            kind=cluster.kind,
            source=source,
            contact_id=cluster.primary_id,
            primary_id=cluster.primary_id,
            details={
                "previous_primaries": cluster.previous_primary_ids,
                "relinked": cluster.relinked_ids,
            },
            user=user,
        )
        for cluster in clusters
    )
    return clusters


# --- Whole-table reconciliation and imports (manage.py reconcile, import_contacts) ----------------

Progress = Callable[[int], object]
"""Told how many more rows were processed; the commands pass a progress bar's ``update``."""


def _no_progress(count: int) -> None:
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


def contact_graph_load(*, chunk_size: int, progress: Progress = _no_progress) -> ContactGraph:
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


def graph_check(*, chunk_size: int, progress: Progress = _no_progress) -> GraphCheck:
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


def relinks_repair(
    *, relinks: Sequence[Relink], batch_size: int, progress: Progress = _no_progress
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
    progress: Progress = _no_progress,
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
