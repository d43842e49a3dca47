"""Replay of the erasure ledger after a restore (docs/privacy.md, ``erase_person --replay-ledger``):
every value a restored backup brought back whose keyed hash the ledger holds is erased again,
and the ledger entries the database lacks are stored again, so that suppression holds."""

import json
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from contacts.governance import identifier_digest
from contacts.models import ErasedIdentifier, Erasure, ErasureScope, IdentifierKind
from contacts.selectors.privacy import ErasureSubject, Node, ledger_entries, stored_values
from contacts.services.erasure import Requester, person_erase
from contacts.services.governance import governance_token_change


@dataclass(frozen=True)
class LedgerEntry:
    """One erased value, as the ledger (table or file) keeps it."""

    erasure_id: int
    kind: str
    digest: str
    suppress: bool


def ledger_entries_read(*, path: str | None) -> list[LedgerEntry]:
    """The ledger file at ``path`` (JSON Lines, as ``PRIVACY_LEDGER_FILE`` is written), or the
    database's table when ``path`` is ``None``. Raises ``ValueError`` naming a bad line."""
    if path is None:
        return [LedgerEntry(*entry) for entry in ledger_entries()]
    entries = []
    with open(path, encoding="utf-8") as ledger:
        for number, line in enumerate(ledger, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                entries.append(
                    LedgerEntry(
                        erasure_id=int(item["erasure"]),
                        kind=IdentifierKind(item["kind"]).value,
                        digest=str(item["digest"]),
                        suppress=bool(item.get("suppress", False)),
                    )
                )
            except (ValueError, KeyError, TypeError) as error:
                raise ValueError(f"line {number} of the ledger is not an entry: {error}") from None
    return entries


@dataclass(frozen=True)
class ReplayPlan:
    """What replaying a ledger does: the values it finds stored again, and the entries the
    database lacks (a restore took them away), which it stores again."""

    found: list[tuple[LedgerEntry, Node]]
    missing: list[LedgerEntry]


def ledger_replay_plan(*, entries: list[LedgerEntry]) -> ReplayPlan:
    """Hash every stored value with ``PRIVACY_HASH_KEY`` and match the ledger's digests."""
    key = settings.PRIVACY_HASH_KEY
    by_digest = {(entry.kind, entry.digest): entry for entry in entries}
    found: dict[Node, LedgerEntry] = {}
    for node in set(stored_values()):
        entry = by_digest.get((node[0], identifier_digest(kind=node[0], value=node[1], key=key)))
        if entry is not None:
            found[node] = entry
    stored = set(ErasedIdentifier.objects.values_list("kind", "digest"))
    missing = [entry for entry in by_digest.values() if (entry.kind, entry.digest) not in stored]
    return ReplayPlan(
        found=sorted(((entry, node) for node, entry in found.items()), key=_replay_order),
        missing=missing,
    )


def _replay_order(item: tuple[LedgerEntry, Node]) -> tuple[int, Node]:
    entry, node = item
    return entry.erasure_id, node


def ledger_replay(*, plan: ReplayPlan, requester: Requester) -> list[Erasure]:
    """Apply ``plan``: erase each value found again (an identifier's erasure, suppressed if it
    was), then store the entries the database lacks, so that suppression holds again."""
    erasures = []
    for entry, (kind, value) in plan.found:
        subject = ErasureSubject(
            scope=ErasureScope.IDENTIFIER,
            email=value if kind == IdentifierKind.EMAIL else None,
            phone_number=value if kind == IdentifierKind.PHONE else None,
        )
        erasures.append(
            person_erase(
                subject=subject,
                reason=f"ledger replay of erasure #{entry.erasure_id}",
                requester=requester,
                suppress=entry.suppress,
                replayed=True,
            )
        )
    stored = set(ErasedIdentifier.objects.values_list("kind", "digest"))
    missing = [entry for entry in plan.missing if (entry.kind, entry.digest) not in stored]
    if missing:
        erasures.append(_ledger_restore(entries=missing, requester=requester))
    return erasures


def _ledger_restore(*, entries: list[LedgerEntry], requester: Requester) -> Erasure:
    with transaction.atomic():
        erasure = Erasure.objects.create(
            scope=ErasureScope.IDENTIFIER,
            subject="ledger",
            reason="ledger entries stored again after a restore",
            source=requester.source,
            requested_by=requester.name,
            user=requester.user,
            suppress=any(entry.suppress for entry in entries),
            replayed=True,
            counts={"ledger_entries": len(entries)},
        )
        ErasedIdentifier.objects.bulk_create(
            ErasedIdentifier(
                erasure=erasure, kind=entry.kind, digest=entry.digest, suppress=entry.suppress
            )
            for entry in entries
        )
        governance_token_change()
    return erasure
