"""The one way every correction of stored clusters is written (SPEC §3, §7, docs/concurrency.md).

A correction (a support person's edit, soft delete or restore in ``services.corrections``, the
repairs of ``services.repairs``, a governance decision, an erasure) names contacts and how they
change; ``correction_run`` plans the clusters around them, takes the same locks as
``/identify/``, plans again under the locks, and relinks what differs, with one history event
per change, in one transaction retried as any writer's. Governance decisions and erasures hook
into the same transaction (``GovernanceChange``, ``ErasureChange``).
"""

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models.functions import Now
from django.utils import timezone

from contacts.db import backend
from contacts.exceptions import CorrectionError
from contacts.governance import Policy
from contacts.locking import identifier_keys, run_with_retries, write_under_locks
from contacts.models import (
    ClusterEvent,
    Contact,
    EventKind,
    IdentityLink,
    LinkPrecedence,
    Source,
)
from contacts.normalize import canonical_identifiers
from contacts.rows import ContactRow, ContactState
from contacts.rules import (
    ClusterChange,
    LinkChange,
    OversizedCluster,
    describe_relinks,
    grown_past_limit,
    plan_relinks,
)
from contacts.selectors.clusters import (
    contact_states,
    neighbourhood_rows,
)
from contacts.selectors.governance import current_policy, governance_token


@dataclass(frozen=True)
class Correction:
    """The new state of one contact; ``None`` fields keep what the contact has."""

    kind: EventKind
    email: str | None = None
    phone_number: str | None = None
    deleted: bool | None = None
    erased_values: frozenset[tuple[str, str]] = frozenset()
    """An erasure's values: link records carrying one are no longer edges (they are deleted)."""


LinkPair = tuple[str, str]
"""A link record's email and phone number."""


@dataclass(frozen=True)
class ReconcilePlan:
    """A correction of some contacts and the relinks it causes, read and decided under the locks.

    ``targets`` are the corrected contacts as read and ``corrected`` the same contacts, in the same
    order, after the correction; both are empty for a reconciliation.
    """

    targets: list[ContactState]
    corrected: list[ContactState]
    rows: list[ContactRow]
    elected: dict[int, int]
    changes: list[LinkChange]
    new_identifiers: list[tuple[str, str]]
    link_rewrites: dict[LinkPair, LinkPair] = field(default_factory=dict)
    """Link records whose values change (a canonicalization): stored pair -> new pair."""
    policy: Policy = field(default_factory=Policy)
    """The governance decisions the plan was made with (docs/governance.md)."""
    oversized: list[OversizedCluster] = field(default_factory=list)
    """Clusters the correction would grow past their size limit."""

    @property
    def locked_ids(self) -> set[int]:
        roots = {row.root_id for row in self.rows}
        return roots | {target.id for target in self.targets}


@dataclass(frozen=True)
class ReconcileResult:
    """What a correction or a reconciliation changed."""

    relinked_ids: list[int]
    clusters: list[ClusterChange]
    primary_ids: list[int]
    changed_ids: list[int] = field(default_factory=list)
    """The corrected contacts whose values or state changed."""


@dataclass(frozen=True)
class GovernanceChange:
    """A change of governance decisions (``services.governance``) applied as a correction: what it
    writes first in the transaction, the values whose carriers it re-forms, what it writes under
    the locks, and why, for the history."""

    decide: Callable[[], None]
    """Store the decision and change the governance token; runs first in each attempt."""
    nodes: set[tuple[str, str]]
    """The values the decision is about: followed even if blocked."""
    under_locks: Callable[[Policy], None]
    """Writes that must not race a request: run with the clusters' locks held."""
    reason: str


@dataclass(frozen=True)
class ErasureChange:
    """An erasure (``services.erasure``) applied as a correction: the erased contacts leave the
    graph, link records carrying an erased value stop being edges, the rest is re-formed; then,
    under the same locks, ``write`` deletes and scrubs what the erasure removes."""

    targets: Callable[[], tuple[list[int], frozenset[tuple[str, str]]]]
    """Read the contacts and values to erase; called by every plan, so that the plan made under
    the locks erases what is there then."""
    begin: Callable[[], None]
    """Store the erasure's record; runs first in each attempt."""
    write: Callable[[ReconcilePlan], None]
    """Runs under the locks, after the relinks, with the plan the targets last read belong to."""
    reason: Callable[[], str]


def contacts_erase(
    *,
    change: ErasureChange,
    user: AbstractBaseUser | None = None,
    source: Source = Source.ADMIN,
) -> ReconcileResult:
    """Take contacts and the link records carrying the erased values out of the graph and
    re-form what is left, in one transaction under the locks of any correction
    (``services.erasure``)."""
    correction = Correction(kind=EventKind.ERASED, deleted=True)
    return correction_run(
        contact_ids=[], correction=correction, user=user, source=source, erasure=change
    )


def erasure_plan(
    *, contact_ids: list[int], erased_values: frozenset[tuple[str, str]]
) -> ReconcilePlan:
    """What ``contacts_erase`` would re-form, read without locks (an erasure's dry run)."""
    correction = Correction(kind=EventKind.ERASED, deleted=True, erased_values=erased_values)
    return _plan_correction(
        contact_ids=contact_ids, correction=correction, seed_nodes=set(erased_values)
    )


def correction_run(
    *,
    contact_ids: list[int],
    correction: Correction | None,
    user: AbstractBaseUser | None,
    source: Source,
    governance: GovernanceChange | None = None,
    erasure: ErasureChange | None = None,
) -> ReconcileResult:
    seed_nodes = set(governance.nodes) if governance else set()

    def plan() -> ReconcilePlan:
        if erasure:
            erased_ids, erased_values = erasure.targets()
            return _plan_correction(
                contact_ids=erased_ids,
                correction=replace(correction, erased_values=erased_values),
                seed_nodes=erased_values,
            )
        return _plan_correction(
            contact_ids=contact_ids, correction=correction, seed_nodes=seed_nodes
        )

    def write(planned: ReconcilePlan) -> ReconcileResult | None:
        """Read again under the plan's locks; write if the new plan needs no other lock."""
        current = plan()
        if not _locks_cover(held=planned, needed=current):
            return None
        if governance:
            governance.under_locks(current.policy)
        elif correction is not None and correction.kind in _GROWING and current.oversized:
            raise _past_limit(current.oversized)
        reason = governance.reason if governance else erasure.reason() if erasure else None
        result = _apply_correction(
            plan=current, correction=correction, user=user, source=source, reason=reason
        )
        if erasure:
            erasure.write(current)
        return result

    def attempt(_: int) -> ReconcileResult:
        with transaction.atomic():
            backend().plans_for_values()
            if governance:
                governance.decide()
            if erasure:
                erasure.begin()
            return write_under_locks(plan=plan, locks_needed=_locks_needed, write=write)

    return run_with_retries(attempt, attempts=settings.IDENTIFY_MAX_ATTEMPTS)


# The corrections that may join clusters and must keep to the size limit (docs/governance.md);
# governance decisions, canonical forms and repairs follow the stored data wherever it leads.
_GROWING = frozenset({EventKind.EDITED, EventKind.RESTORED})


def _past_limit(oversized: list[OversizedCluster]) -> CorrectionError:
    clusters = ", ".join(
        f"#{cluster.contact_id} would have {cluster.size} contacts (limit {cluster.limit})"
        for cluster in oversized
    )
    return CorrectionError(
        f"This correction would take identities past their size limit: {clusters}. "
        "Raise the limit by approving a held merge, or correct fewer contacts.",
        code="cluster_size_limit",
    )


def _locks_needed(plan: ReconcilePlan) -> tuple[set[int], set[int]]:
    """Advisory lock keys of the identifiers the correction brings, and the primaries it touches."""
    return identifier_keys(plan.new_identifiers), plan.locked_ids


def _locks_cover(*, held: ReconcilePlan, needed: ReconcilePlan) -> bool:
    held_keys, held_ids = _locks_needed(held)
    needed_keys, needed_ids = _locks_needed(needed)
    return needed_keys <= held_keys and needed_ids <= held_ids


def _plan_correction(
    *,
    contact_ids: list[int],
    correction: Correction | None,
    seed_nodes: set[tuple[str, str]] = frozenset(),
) -> ReconcilePlan:
    policy = current_policy(token=governance_token())
    blocklist = policy.blocklist
    states = contact_states(contact_ids=contact_ids)
    targets = states if correction else []
    corrected = [_corrected_state(target, correction) for target in targets]
    canonicalizing = correction is not None and _canonicalizes(correction)
    nodes = {
        node
        for state in [*states, *corrected]
        for node in blocklist.nodes(email=state.email, phone_number=state.phone_number)
    } | set(seed_nodes)
    while True:
        rows, links = neighbourhood_rows(
            root_ids={state.root_id for state in states}, nodes=nodes, blocklist=blocklist
        )
        link_rewrites = _link_rewrites(links) if canonicalizing else {}
        rewritten_nodes = {node for pair in link_rewrites.values() for node in _pair_nodes(pair)}
        if rewritten_nodes <= nodes:
            break
        nodes |= rewritten_nodes
    corrected_ids = {state.id for state in corrected}
    after = [row for row in rows if row.id not in corrected_ids]
    after += [state.row for state in corrected if state.deleted_at is None]
    links_after = list(dict.fromkeys(link_rewrites.get(link, link) for link in links))
    if correction is not None and correction.erased_values:
        erased = correction.erased_values
        links_after = [link for link in links_after if not set(_pair_nodes(link)) & erased]
    elected, changes = plan_relinks(rows=after, links=links_after, policy=policy)
    present = {node for row in rows for node in (("email", row.email), ("phone", row.phone_number))}
    brought = [node for state in corrected for node in state.nodes]
    brought += [node for pair in link_rewrites.values() for node in _pair_nodes(pair)]
    new_identifiers = list(dict.fromkeys(node for node in brought if node not in present))
    if correction is not None:
        # An erased value no live contact carries is locked as a new one would be: a request
        # bringing it would find it nowhere and create it. One a live contact carries is held by
        # its primary's row lock, which every request matching it takes.
        new_identifiers += sorted(correction.erased_values - present - set(new_identifiers))
    return ReconcilePlan(
        targets=targets,
        corrected=corrected,
        rows=after,
        elected=elected,
        changes=changes,
        new_identifiers=new_identifiers,
        link_rewrites=link_rewrites,
        policy=policy,
        oversized=grown_past_limit(before=rows, elected=elected, policy=policy),
    )


def _canonicalizes(correction: Correction) -> bool:
    return correction.kind is EventKind.CANONICALIZED


def _pair_nodes(pair: LinkPair) -> tuple[tuple[str, str], tuple[str, str]]:
    email, phone_number = pair
    return ("email", email), ("phone", phone_number)


def _link_rewrites(links: list[LinkPair]) -> dict[LinkPair, LinkPair]:
    rewrites = {}
    for email, phone_number in links:
        canonical = canonical_identifiers(email=email, phone_number=phone_number)
        if canonical != (email, phone_number):
            rewrites[email, phone_number] = canonical
    return rewrites


def _corrected_state(state: ContactState, correction: Correction) -> ContactState:
    if correction.kind is EventKind.EDITED:
        return replace(state, email=correction.email, phone_number=correction.phone_number)
    if _canonicalizes(correction):
        email, phone_number = canonical_identifiers(
            email=state.email, phone_number=state.phone_number
        )
        return replace(state, email=email, phone_number=phone_number)
    return replace(state, deleted_at=timezone.now() if correction.deleted else None)


def _apply_correction(
    *,
    plan: ReconcilePlan,
    correction: Correction | None,
    user: AbstractBaseUser | None,
    source: Source,
    reason: str | None = None,
) -> ReconcileResult:
    events = []
    for target, corrected in zip(plan.targets, plan.corrected, strict=True):
        if correction is not None and correction.kind is EventKind.ERASED:
            events.append(_erased_event(target=target, source=source, user=user, reason=reason))
            continue
        if correction is None or not _differs(target, corrected):
            continue
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
    _link_rewrites_apply(plan.link_rewrites)
    clusters = relinks_apply(
        rows=plan.rows,
        elected=plan.elected,
        changes=plan.changes,
        source=source,
        user=user,
        repair=correction is None and source == Source.COMMAND and reason is None,
        reason=reason,
    )
    ClusterEvent.objects.bulk_create(events)
    return ReconcileResult(
        relinked_ids=sorted(change.contact_id for change in plan.changes),
        clusters=clusters,
        primary_ids=sorted(set(plan.elected.values())),
        changed_ids=sorted(event.contact_id for event in events),
    )


def _erased_event(
    *, target: ContactState, source: Source, user: AbstractBaseUser | None, reason: str | None
) -> ClusterEvent:
    """The last event about an erased contact: its id and the primary it was in, no values."""
    return ClusterEvent(
        kind=EventKind.ERASED,
        source=source,
        contact_id=target.id,
        primary_id=target.root_id,
        details={"reason": reason} if reason else {},
        user=user,
    )


def _link_rewrites_apply(rewrites: dict[LinkPair, LinkPair]) -> None:
    """Give link records their new values; one whose new pair is already stored goes."""
    for (email, phone_number), (new_email, new_phone_number) in rewrites.items():
        stored = IdentityLink.objects.filter(email=email, phone_number=phone_number)
        if IdentityLink.objects.filter(email=new_email, phone_number=new_phone_number).exists():
            stored.delete()
        else:
            stored.update(email=new_email, phone_number=new_phone_number)


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
    repair: bool = False,
    reason: str | None = None,
) -> list[ClusterChange]:
    """Write link changes (an UPDATE per new primary) and their history, under held locks;
    ``repair`` records every change as a repair (``reconcile`` fixing links that differ);
    ``reason`` says why in each event (a governance decision)."""
    targets: dict[int | None, list[int]] = {}
    for change in changes:
        targets.setdefault(change.linked_id, []).append(change.contact_id)
    for linked_id, contact_ids in targets.items():
        precedence = LinkPrecedence.PRIMARY if linked_id is None else LinkPrecedence.SECONDARY
        Contact.objects.filter(id__in=contact_ids).update(
            linked_id=linked_id, link_precedence=precedence, updated_at=Now()
        )
    clusters = describe_relinks(rows=rows, elected=elected, changes=changes, repair=repair)
    ClusterEvent.objects.bulk_create(
        ClusterEvent(
            kind=cluster.kind,
            source=source,
            contact_id=cluster.primary_id,
            primary_id=cluster.primary_id,
            details={
                "previous_primaries": cluster.previous_primary_ids,
                "relinked": cluster.relinked_ids,
                **({"reason": reason} if reason else {}),
            },
            user=user,
        )
        for cluster in clusters
    )
    return clusters
