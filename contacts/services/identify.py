"""``POST /identify/``: link an email and/or phone number into its identity (SPEC §4, §5).

``contact_identify`` first reads the matched clusters without a transaction: most requests only
look up an identity and are answered from that one statement. A request that must write runs a
transaction that locks what it will change and applies the rules only to clusters that are, under
the locks, what it read. The protocol is in docs/concurrency.md; blocked values and the size limit
are in docs/governance.md.
"""

from collections.abc import Callable
from dataclasses import replace
from functools import partial

from django.conf import settings
from django.db import transaction

from contacts.db import Applied, backend
from contacts.locking import identifier_keys, run_with_retries, write_turn, write_under_locks
from contacts.metrics import identify_record
from contacts.models import Source
from contacts.rows import ContactRow
from contacts.rules import IdentifyPlan, Identity, identity_from_rows, plan_identify
from contacts.selectors.matching import clusters_matching
from contacts.services.governance import held_merge_record


def contact_identify(
    *,
    email: str | None,
    phone_number: str | None,
    source: Source = Source.API,
    size_limit: bool = True,
) -> Identity:
    """Link a normalized email and/or phone number into its identity and return that identity.

    Raises ``IdentifiersBlocked`` when every value given is blocked. ``size_limit=False`` applies
    a write past ``IDENTITY_MAX_CLUSTER_SIZE`` (a person approving a held merge).

    Must be called outside a transaction: it owns its transaction so that it can run it again after
    a lost race, a deadlock or a lost connection (running it twice is harmless: it is idempotent).
    """
    if email is None and phone_number is None:
        raise ValueError("contact_identify needs an email or a phone number")
    plan = partial(_plan, email=email, phone_number=phone_number, size_limit=size_limit)
    identity = run_with_retries(
        lambda attempt: _identify(plan=plan, source=source),
        attempts=settings.IDENTIFY_MAX_ATTEMPTS,
    )
    identify_record(outcome=identity.outcome, source=source)
    return identity


def _identify(*, plan: Callable[[], IdentifyPlan], source: Source) -> Identity:
    """Answer from one unlocked read when nothing is to be written; else lock, check and write."""
    first = plan()
    if not first.writes:
        return identity_from_rows(
            rows=first.rows, primary_id=first.primary.id, outcome=first.outcome
        )
    return _identify_locked(plan=plan, source=source, hint=first)


def _plan(*, email: str | None, phone_number: str | None, size_limit: bool = True) -> IdentifyPlan:
    """Read the clusters the request's unblocked values match and plan with the governance
    decisions read with them (``size_limit=False``: past any size limit)."""
    matched = clusters_matching(email=email, phone_number=phone_number)
    policy = matched.policy if size_limit else replace(matched.policy, max_size=0)
    return plan_identify(rows=matched.rows, email=email, phone_number=phone_number, policy=policy)


def _locks_needed(plan: IdentifyPlan) -> tuple[set[int], set[int]]:
    """Advisory lock keys of the identifiers the plan creates, and the primaries it changes."""
    return identifier_keys(plan.new_identifiers), set(plan.cluster_ids) if plan.writes else set()


def _identify_locked(
    *, plan: Callable[[], IdentifyPlan], source: Source, hint: IdentifyPlan
) -> Identity:
    """Lock what the request will change, and apply the plan if the clusters are still as read.

    The write itself checks that the clusters are still the plan's rows and writes nothing if
    they moved (``apply_if_unchanged``): no read under the locks precedes it (docs/concurrency.md).
    On SQLite the transaction holds the whole database and takes no locks: a plan made before its
    ``BEGIN`` is checked the same way. A held write reads again under the locks and records the
    held merge only if that read plans the same (docs/governance.md).
    """
    db = backend()

    def write(planned: IdentifyPlan) -> Identity | None:
        if not planned.writes:
            return identity_from_rows(
                rows=planned.rows, primary_id=planned.primary.id, outcome=planned.outcome
            )
        if planned.hold is not None:
            if plan() != planned:
                return None
            held_merge_record(plan=planned, source=source)
            return identity_from_rows(
                rows=planned.answer_rows, primary_id=planned.primary.id, outcome=planned.outcome
            )
        applied = db.apply_if_unchanged(plan=planned, source=source)
        return None if applied is None else answer(plan=planned, applied=applied)

    with write_turn(), transaction.atomic():
        return write_under_locks(
            plan=plan,
            locks_needed=_locks_needed,
            write=write,
            first=hint,
        )


def answer(*, plan: IdentifyPlan, applied: Applied) -> Identity:
    """The identity after ``plan`` was written: the rows it was made from, plus the new contact."""
    if applied.new_id is None:
        return identity_from_rows(rows=plan.rows, primary_id=plan.primary.id, outcome=plan.outcome)
    primary_id = plan.primary.id if plan.primary else applied.new_id
    new_row = ContactRow(
        id=applied.new_id,
        email=plan.email,
        phone_number=plan.phone_number,
        linked_id=plan.primary.id if plan.primary else None,
        created_at=applied.created_at,
    )
    return identity_from_rows(
        rows=[*plan.rows, new_row], primary_id=primary_id, outcome=plan.outcome
    )
