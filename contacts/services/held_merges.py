"""Decisions on held merges (docs/governance.md): approve one (apply it as its request would have
been applied, past the limit, optionally raising the identity's limit) or reject it (optionally
for good: the pair never joins two identities)."""

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from contacts.models import (
    ClusterEvent,
    ClusterLimit,
    Contact,
    EventKind,
    HeldMerge,
    HeldMergeStatus,
    Source,
)
from contacts.rules import Identity
from contacts.services.governance import governance_token_change
from contacts.services.identify import contact_identify


def held_merge_approve(
    *, held: HeldMerge, raise_limit: bool, user: AbstractBaseUser | None = None
) -> Identity:
    """Apply a held merge as its request would have been applied, past the limit. With
    ``raise_limit`` the resulting identity's limit becomes its new size plus
    ``IDENTITY_MAX_CLUSTER_SIZE``: room to grow as much as a new identity may; without it the
    identity, now past its limit, grows only through held merges a person approves. A pair rejected
    for good before is a pair again."""
    if held.never_link:
        with transaction.atomic():
            HeldMerge.objects.filter(pk=held.pk).update(never_link=False)
            governance_token_change()
    identity = contact_identify(
        email=held.email, phone_number=held.phone_number, source=Source.ADMIN, size_limit=False
    )
    with transaction.atomic():
        if raise_limit:
            size = 1 + len(identity.secondary_ids) + settings.IDENTITY_MAX_CLUSTER_SIZE
            ClusterLimit.objects.update_or_create(
                contact_id=identity.primary_id,
                defaults={"max_size": size, "held_merge": held, "set_by": user},
            )
            governance_token_change()
        _decide(held=held, status=HeldMergeStatus.APPROVED, never_link=False, user=user)
    return identity


def held_merge_reject(
    *, held: HeldMerge, never_link: bool, user: AbstractBaseUser | None = None
) -> None:
    """Reject a held merge; with ``never_link`` its pair never joins two identities again."""
    with transaction.atomic():
        _decide(held=held, status=HeldMergeStatus.REJECTED, never_link=never_link, user=user)
        if never_link:
            governance_token_change()


def _decide(
    *, held: HeldMerge, status: HeldMergeStatus, never_link: bool, user: AbstractBaseUser | None
) -> None:
    HeldMerge.objects.filter(pk=held.pk).update(
        status=status, never_link=never_link, decided_by=user, decided_at=timezone.now()
    )
    held.refresh_from_db()
    primary_id = (
        Contact.objects.filter(id=held.primary_id)
        .values_list(Coalesce("linked_id", "id"), flat=True)
        .first()
    )
    ClusterEvent.objects.create(
        kind=EventKind.DECIDED,
        source=Source.ADMIN if user is not None else Source.COMMAND,
        contact_id=held.primary_id,
        primary_id=primary_id or held.primary_id,
        details={"held_merge": held.pk, "decision": status.value, "never_link": never_link},
        user=user,
    )
