"""Erasure of a person (docs/privacy.md): the one writer behind ``erase_person``, the admin's
"Erase…" action and ``POST /privacy/erasures/``, and its dry run.

An erasure is a correction (``services.relinking``): one transaction that locks the identities
concerned and the erased values as any writer would (docs/concurrency.md), reads them again under
the locks, takes the erased contacts out of the graph and re-forms what is left (an erased bridge
splits an identity; the oldest remaining contact leads each part), then deletes the contacts, the
link records and held merges carrying an erased value, removes the values from the history and
the admin log, and records the erasure and its ledger entries: keyed hashes, no personal data.
"""

import json
import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction

from contacts.exceptions import IdempotencyKeyReused
from contacts.governance import identifier_digest
from contacts.locking import LocksChanged
from contacts.models import Contact, ErasedIdentifier, Erasure, Source
from contacts.selectors.governance import current_policy, governance_token
from contacts.selectors.privacy import (
    ErasureSubject,
    ErasureTargets,
    Node,
    erasure_of_request,
    erasure_targets,
)
from contacts.services.erasure_footprint import erasure_footprint, footprint_remove
from contacts.services.governance import governance_token_change
from contacts.services.relinking import ErasureChange, ReconcilePlan, contacts_erase, erasure_plan

logger = logging.getLogger(__name__)


class TargetsChanged(Exception):
    """A contact the erasure read went before its next read (another erasure): start over."""


@dataclass(frozen=True)
class Requester:
    """Who asked for an erasure, as the record keeps it: no personal data."""

    source: Source
    name: str
    """The staff user's username, ``api-key:<prefix>``, or ``command``."""
    user: AbstractBaseUser | None = None


def person_erase(
    *,
    subject: ErasureSubject,
    reason: str,
    requester: Requester,
    suppress: bool = False,
    request_id: str | None = None,
    replayed: bool = False,
) -> Erasure:
    """Erase what ``subject`` names everywhere the service stores it; return the record.

    With ``request_id``, a second call with the same id returns the first call's record and
    erases nothing more (``IdempotencyKeyReused`` if it named another person or asked otherwise).
    With ``suppress``, a later request carrying an erased value is refused
    (``IdentifiersSuppressed``). Raises ``IdentityNotFound`` for an unknown contact id.
    Must be called outside a transaction: it owns its transactions and runs them again after a
    lost race (``corrections`` retries deadlocks and locks what a request added meanwhile).
    """
    if request_id is not None:
        done = erasure_of_request(request_id=request_id)
        if done is not None:
            return _replayed(done, subject=subject, suppress=suppress)
    try:
        for _ in range(settings.IDENTIFY_MAX_ATTEMPTS):
            try:
                return _erase(
                    subject=subject,
                    reason=reason,
                    requester=requester,
                    suppress=suppress,
                    request_id=request_id,
                    replayed=replayed,
                )
            except TargetsChanged:
                continue
        raise LocksChanged("the erased contacts kept changing while they were being locked")
    except IntegrityError:
        done = erasure_of_request(request_id=request_id)
        if done is None:
            raise
        return _replayed(done, subject=subject, suppress=suppress)


def _replayed(erasure: Erasure, *, subject: ErasureSubject, suppress: bool) -> Erasure:
    """The erasure an earlier call with the same request id made, if it is that call's retry."""
    if not _answers(erasure=erasure, subject=subject, suppress=suppress):
        raise IdempotencyKeyReused
    return erasure


def _answers(*, erasure: Erasure, subject: ErasureSubject, suppress: bool) -> bool:
    """Whether ``erasure`` is what a request for ``subject`` makes: a retry of that request, not
    another person's erasure sent with a reused key, which would be answered as done while nothing
    of that person was erased. A named value is compared by its keyed hash in the ledger."""
    made = (erasure.scope, erasure.subject, erasure.subject_contact_id, erasure.suppress)
    if made != (subject.scope, subject.kind, subject.contact_id, suppress):
        return False
    erased = {(entry.kind, entry.digest) for entry in erasure.identifiers.all()}
    key = settings.PRIVACY_HASH_KEY
    return all(
        (kind, identifier_digest(kind=kind, value=value, key=key)) in erased
        for kind, value in subject.named_values
    )


def _erase(
    *,
    subject: ErasureSubject,
    reason: str,
    requester: Requester,
    suppress: bool,
    request_id: str | None,
    replayed: bool,
) -> Erasure:
    """One attempt: the correction's lock loop reads the targets, locks them, and reads them
    again under the locks; ``TargetsChanged`` if one vanished between two reads."""
    erasure = Erasure(
        scope=subject.scope,
        subject=subject.kind,
        subject_contact_id=subject.contact_id,
        reason=reason,
        source=requester.source,
        requested_by=requester.name,
        user=requester.user,
        request_id=request_id,
        suppress=suppress,
        replayed=replayed,
    )
    # The targets of the latest plan: the one ``write`` runs with is made under the locks.
    latest: list[ErasureTargets] = []

    def targets() -> tuple[list[int], frozenset[Node]]:
        blocklist = current_policy(token=governance_token()).blocklist
        latest[:] = [erasure_targets(subject=subject, blocklist=blocklist)]
        return latest[0].contact_ids, latest[0].values

    def begin() -> None:
        erasure.pk = None
        erasure.save(force_insert=True)

    def write(plan: ReconcilePlan) -> None:
        (erased,) = latest
        erasure.counts = footprint_remove(footprint=erasure_footprint(targets=erased))
        erasure.contact_ids = erased.contact_ids
        erasure.primary_ids = sorted(set(plan.elected.values()))
        erasure.save(update_fields=["counts", "contact_ids", "primary_ids"])
        entries = _ledger_append(erasure=erasure, targets=erased)
        # Last, after every row a process's copy of the decisions holds (suppressed values,
        # blocked values, never-link pairs): a copy loaded with the new token is complete.
        governance_token_change()
        transaction.on_commit(lambda: _ledger_file_append(entries=entries))

    change = ErasureChange(
        targets=targets, begin=begin, write=write, reason=lambda: f"erasure #{erasure.pk}"
    )
    try:
        contacts_erase(change=change, user=requester.user, source=requester.source)
    except Contact.DoesNotExist as gone:
        raise TargetsChanged from gone
    return erasure


@dataclass(frozen=True)
class ErasurePreview:
    """What an erasure would do, read without locks (a dry run)."""

    contact_ids: list[int]
    live_contact_ids: list[int]
    values: int
    """How many distinct values it erases."""
    counts: dict[str, int]
    primary_ids_before: list[int]
    """The identities the erased contacts belong to."""
    primary_ids_after: list[int]
    """The primaries of what is left of them."""


def erasure_preview(*, subject: ErasureSubject) -> ErasurePreview:
    """The dry run of ``person_erase``: the same reads and plan, nothing written, no locks."""
    policy = current_policy(token=governance_token())
    targets = erasure_targets(subject=subject, blocklist=policy.blocklist)
    plan = erasure_plan(contact_ids=targets.contact_ids, erased_values=targets.values)
    live = [target for target in plan.targets if target.deleted_at is None]
    return ErasurePreview(
        contact_ids=targets.contact_ids,
        live_contact_ids=[target.id for target in live],
        values=len(targets.values),
        counts=erasure_footprint(targets=targets).counts,
        primary_ids_before=sorted({target.root_id for target in live}),
        primary_ids_after=sorted(set(plan.elected.values())),
    )


def _ledger_append(*, erasure: Erasure, targets: ErasureTargets) -> list[ErasedIdentifier]:
    key = settings.PRIVACY_HASH_KEY
    entries = [
        ErasedIdentifier(
            erasure=erasure,
            kind=kind,
            digest=identifier_digest(kind=kind, value=value, key=key),
            suppress=erasure.suppress,
            contacts=targets.carriers.get((kind, value), 0),
        )
        for kind, value in sorted(targets.values)
    ]
    return ErasedIdentifier.objects.bulk_create(entries)


def _ledger_file_append(*, entries: list[ErasedIdentifier]) -> None:
    """Copy committed ledger entries to ``PRIVACY_LEDGER_FILE`` (outside the database's
    backups), one JSON object per line."""
    path = settings.PRIVACY_LEDGER_FILE
    if not path or not entries:
        return
    lines = "".join(
        json.dumps(
            {
                "erasure": entry.erasure_id,
                "kind": entry.kind,
                "digest": entry.digest,
                "suppress": entry.suppress,
            }
        )
        + "\n"
        for entry in entries
    )
    try:
        with open(path, "a", encoding="utf-8") as ledger:
            ledger.write(lines)
    except OSError:
        logger.exception("could not append erasure #%s to the ledger file", entries[0].erasure_id)
