"""Writers of identifier governance (docs/governance.md): blocking and unblocking values, held
merges and the decisions on them.

Blocking or unblocking a value is a correction (``services.relinking``): one transaction that
stores the decision, changes the governance token, locks the clusters carrying the value as
``/identify/`` locks them and re-forms them, with history. Held merges are recorded by
``/identify/`` under its locks (``held_merge_record``); ``services.held_merges`` decides them.
"""

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Now

from contacts.exceptions import CorrectionError
from contacts.governance import Policy
from contacts.models import (
    BlockedIdentifier,
    ClusterEvent,
    Contact,
    EventKind,
    GovernanceVersion,
    HeldMerge,
    HeldMergeStatus,
    IdentifierKind,
    IdentityLink,
    MatchType,
    Source,
)
from contacts.rules import IdentifyPlan
from contacts.selectors.governance import matching_values
from contacts.services.relinking import GovernanceChange, ReconcileResult, correction_run


def governance_apply(
    *,
    contact_ids: list[int],
    change: GovernanceChange,
    user: AbstractBaseUser | None = None,
    source: Source = Source.ADMIN,
) -> ReconcileResult:
    """Store a governance decision and re-form the clusters of the contacts carrying its values,
    in one transaction under the locks of any correction (``services.relinking``)."""
    return correction_run(
        contact_ids=contact_ids, correction=None, user=user, source=source, governance=change
    )


def governance_token_change() -> int:
    """Give the stored decisions a new token (in the caller's transaction): every process sees,
    at its next ``/identify/`` statement, that its copy is stale (docs/governance.md)."""
    # From the operating system's generator: the random module's state is shared, and whoever
    # seeds it (a test framework, a library) would make tokens repeat.
    token = secrets.randbelow(2**62) + 1
    updated = GovernanceVersion.objects.filter(id=1).update(token=token)
    if not updated:
        GovernanceVersion.objects.create(id=1, token=token)
    return token


@dataclass(frozen=True)
class GovernanceResult:
    """What a block or an unblock changed."""

    entry: BlockedIdentifier
    reconciled: ReconcileResult


def identifier_block(
    *,
    kind: IdentifierKind,
    match: MatchType,
    value: str,
    reason: str,
    user: AbstractBaseUser | None = None,
    source: Source = Source.ADMIN,
) -> GovernanceResult:
    """Block a canonical value or a whole-value pattern; split the clusters it held together.

    ``value`` must already be validated (``forms.BlockedIdentifierForm``). Raises
    ``CorrectionError`` if the same entry exists.
    """
    if BlockedIdentifier.objects.filter(kind=kind, match=match, value=value).exists():
        raise CorrectionError("This value is blocked already.", code="already_blocked")
    entry = BlockedIdentifier(kind=kind, match=match, value=value, reason=reason, added_by=user)

    def decide() -> None:
        entry.pk = None
        entry.save(force_insert=True)
        governance_token_change()

    reconciled = _govern(
        kind=kind,
        match=match,
        value=value,
        decide=decide,
        reason=f"identifier blocked ({reason})",
        user=user,
        source=source,
    )
    return GovernanceResult(entry=entry, reconciled=reconciled)


def identifier_unblock(
    *, entry: BlockedIdentifier, user: AbstractBaseUser | None = None, source: Source = Source.ADMIN
) -> GovernanceResult:
    """Remove a blocked value or pattern; merge the clusters that now share a value. An unblock
    may take a cluster past the size limit: the preview says so, and the person decides."""

    def decide() -> None:
        BlockedIdentifier.objects.filter(pk=entry.pk).delete()
        governance_token_change()

    reconciled = _govern(
        kind=entry.kind,
        match=entry.match,
        value=entry.value,
        decide=decide,
        reason="identifier unblocked",
        user=user,
        source=source,
    )
    return GovernanceResult(entry=entry, reconciled=reconciled)


def _govern(
    *,
    kind: str,
    match: str,
    value: str,
    decide: Callable[[], None],
    reason: str,
    user: AbstractBaseUser | None,
    source: Source,
) -> ReconcileResult:
    values = matching_values(kind=kind, match=match, value=value)
    field = "email" if kind == IdentifierKind.EMAIL else "phone_number"
    carriers = list(
        Contact.live.filter(**{f"{field}__in": values}).order_by("id").values_list("id", flat=True)
    )

    def flag_links(policy: Policy) -> None:
        """Link records carrying the values: an edge only if neither of its values is blocked."""
        links = IdentityLink.objects.filter(**{f"{field}__in": values})
        blocked = [
            link_id
            for link_id, email, phone_number in links.values_list("id", "email", "phone_number")
            if len(policy.blocklist.nodes(email=email, phone_number=phone_number)) < 2
        ]
        links.filter(id__in=blocked).exclude(blocked=True).update(blocked=True)
        links.exclude(id__in=blocked).exclude(blocked=False).update(blocked=False)

    change = GovernanceChange(
        decide=decide,
        nodes={(kind, stored) for stored in values},
        under_locks=flag_links,
        reason=reason,
    )
    return governance_apply(contact_ids=carriers, change=change, user=user, source=source)


def held_merge_record(*, plan: IdentifyPlan, source: Source) -> None:
    """Record a held write (``IdentifyPlan.hold``), or count it again: one row per email and
    phone number pair. A pair approved before is pending again (its clusters need a new
    decision); a rejected one stays rejected. The first time a pair is held, the history (and
    so the ``identity.merge_held`` event) says so. Call under the plan's locks."""
    hold = plan.hold
    email, phone_number = plan.match_email, plan.match_phone_number
    values = {
        "kind": hold.kind,
        "primary_id": plan.primary.root_id,
        "other_primary_ids": hold.other_primary_ids,
        "size": hold.size,
        "limit": hold.limit,
    }
    pair = HeldMerge.objects.filter(email=email, phone_number=phone_number)
    recount = {
        **values,
        "occurrences": F("occurrences") + 1,
        "last_seen_at": Now(),
        "status": Case(
            When(status=HeldMergeStatus.APPROVED, then=Value(HeldMergeStatus.PENDING)),
            default=F("status"),
        ),
    }
    if pair.update(**recount):
        return
    try:
        with transaction.atomic():
            held = HeldMerge.objects.create(email=email, phone_number=phone_number, **values)
    except IntegrityError:
        pair.update(**recount)
        return
    ClusterEvent.objects.create(
        kind=EventKind.HELD,
        source=source,
        contact_id=held.primary_id,
        primary_id=held.primary_id,
        details={
            "held_merge": held.id,
            "hold": held.kind,
            "other_primaries": held.other_primary_ids,
        },
    )
