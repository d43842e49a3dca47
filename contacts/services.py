"""The only code that writes contact links (SPEC §4, §5).

``contact_identify`` is what ``POST /identify/`` runs. It first reads the matched clusters without a
transaction: most requests only look up an identity and are answered from that one statement. A
request that must write runs a transaction that locks what it will change, reads the clusters again
and applies the rules to what it read under the locks. The protocol is in docs/concurrency.md.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Now

from contacts.locking import (
    LocksChanged,
    identifier_lock_key,
    lock_identifiers,
    lock_primaries,
    run_with_retries,
    uses_row_locks,
)
from contacts.models import Contact, IdentityLink, LinkPrecedence, Source
from contacts.rules import IdentifyPlan, Outcome, plan_identify
from contacts.selectors import ContactRow, cluster_rows

# How often one transaction may find that the clusters it locked have moved, and lock what its
# read revealed, before it starts over.
MAX_LOCK_ROUNDS = 4


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
    a deadlock.
    """
    if email is None and phone_number is None:
        raise ValueError("contact_identify needs an email or a phone number")
    plan = _plan(email=email, phone_number=phone_number)
    if not plan.writes:
        return identity_from_rows(rows=plan.rows, primary_id=plan.primary.id, outcome=plan.outcome)
    return run_with_retries(
        lambda attempt: _identify_locked(
            email=email,
            phone_number=phone_number,
            source=source,
            hint=plan if attempt == 1 else None,
        ),
        attempts=settings.IDENTIFY_MAX_ATTEMPTS,
    )


def _plan(*, email: str | None, phone_number: str | None) -> IdentifyPlan:
    rows = cluster_rows(email=email, phone_number=phone_number)
    return plan_identify(rows=rows, email=email, phone_number=phone_number)


def _locks_needed(plan: IdentifyPlan) -> tuple[set[int], set[int]]:
    """Advisory lock keys of the identifiers the plan creates, and the primaries it changes."""
    keys = {identifier_lock_key(kind=kind, value=value) for kind, value in plan.new_identifiers}
    return keys, set(plan.cluster_ids) if plan.writes else set()


def _identify_locked(
    *, email: str | None, phone_number: str | None, source: Source, hint: IdentifyPlan | None
) -> Identity:
    """Lock what the request will change, re-plan from a read under the locks, apply the plan.

    The first locks are taken in the global order and may wait; a later read that reveals more to
    lock takes those without waiting, or starts the transaction over (docs/concurrency.md).
    """
    with transaction.atomic():
        plan = hint or _plan(email=email, phone_number=phone_number)
        keys, ids = _locks_needed(plan)
        held_keys: set[int] = set()
        held_ids: set[int] = set()
        for round_ in range(MAX_LOCK_ROUNDS):
            lock_identifiers(keys=keys - held_keys, wait=round_ == 0)
            lock_primaries(ids=ids - held_ids, wait=round_ == 0)
            held_keys |= keys
            held_ids |= ids
            plan = _plan(email=email, phone_number=phone_number)
            keys, ids = _locks_needed(plan)
            if not uses_row_locks() or (keys <= held_keys and ids <= held_ids):
                return _apply(plan=plan, source=source)
        raise LocksChanged(f"clusters of {email!r} / {phone_number!r} kept changing")


def _apply(*, plan: IdentifyPlan, source: Source) -> Identity:
    """Write what ``plan`` says, under the locks, and build the answer from rows already read."""
    rows = list(plan.rows)
    primary = plan.primary
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
        new_row = ContactRow(
            id=contact.id,
            email=contact.email,
            phone_number=contact.phone_number,
            linked_id=contact.linked_id,
            created_at=contact.created_at,
        )
        rows.append(new_row)
        primary = primary or new_row
    return identity_from_rows(rows=rows, primary_id=primary.id, outcome=plan.outcome)


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
    """Consolidate the live rows of one cluster: the primary's values first, then by age."""
    ordered = sorted(rows, key=lambda row: row.age_key)
    primary = next(row for row in ordered if row.id == primary_id)
    emails = dict.fromkeys(row.email for row in [primary, *ordered] if row.email is not None)
    phone_numbers = dict.fromkeys(
        row.phone_number for row in [primary, *ordered] if row.phone_number is not None
    )
    return Identity(
        primary_id=primary_id,
        emails=list(emails),
        phone_numbers=list(phone_numbers),
        secondary_ids=sorted(row.id for row in rows if row.id != primary_id),
        outcome=outcome,
    )
