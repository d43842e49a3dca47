"""Reads of identifier governance (docs/governance.md): the decisions a process caches, and what
the admin's queue and previews show."""

import re
import threading
from dataclasses import dataclass, replace

from django.conf import settings
from django.db import DatabaseError, transaction

from contacts.governance import Blocklist, Policy, Regrouping, Suppressions, regroupings
from contacts.graph import elect_primaries
from contacts.models import (
    BlockedIdentifier,
    ClusterLimit,
    Contact,
    ErasedIdentifier,
    GovernanceVersion,
    HeldMerge,
    IdentifierKind,
    IdentityLink,
    MatchType,
)
from contacts.selectors.clusters import neighbourhood_rows

_cache_lock = threading.Lock()
_cached = Policy(token=-1)


def governance_token() -> int:
    """The token of the decisions stored now (0 before any)."""
    return GovernanceVersion.objects.filter(id=1).values_list("token", flat=True).first() or 0


def policy_load(*, token: int) -> Policy:
    """Every stored decision, labelled with ``token`` (read by the caller, before these rows)."""
    blocklist = Blocklist.of(BlockedIdentifier.objects.values_list("kind", "match", "value"))
    never_link = frozenset(
        HeldMerge.objects.filter(never_link=True).values_list("email", "phone_number")
    )
    limits = dict(ClusterLimit.objects.values_list("contact_id", "max_size"))
    suppressed = ErasedIdentifier.objects.filter(suppress=True).values_list("kind", "digest")
    return Policy(
        token=token,
        blocklist=blocklist,
        never_link=never_link,
        limits=limits,
        max_size=settings.IDENTITY_MAX_CLUSTER_SIZE,
        suppressions=Suppressions(digests=frozenset(suppressed), key=settings.PRIVACY_HASH_KEY),
    )


def current_policy(*, token: int) -> Policy:
    """This process's copy of the decisions, loaded again when ``token`` (the one a statement of
    the caller just read, or ``governance_token()``) differs from it."""
    global _cached
    policy = _cached
    if policy.token != token:
        with _cache_lock:
            if _cached.token != token:
                _cached = policy_load(token=token)
            policy = _cached
    if policy.max_size != settings.IDENTITY_MAX_CLUSTER_SIZE:
        policy = _cached = replace(policy, max_size=settings.IDENTITY_MAX_CLUSTER_SIZE)
    return policy


def policy_forget() -> None:
    """Drop this process's copy: the next write reads the decisions again (tests, after a
    change in this process)."""
    global _cached
    _cached = Policy(token=-1)


def cached_policy() -> Policy:
    """This process's copy of the decisions as it is (read once per process): the first guess of
    a request, which checks it against the token its first statement reads."""
    policy = _cached
    if policy.token == -1:
        return current_policy(token=governance_token())
    if policy.max_size != settings.IDENTITY_MAX_CLUSTER_SIZE:
        return current_policy(token=policy.token)
    return policy


def matching_values(*, kind: str, match: str, value: str) -> list[str]:
    """The distinct stored values of ``kind`` (on contacts, live or not, and on link records)
    that an exact value or a whole-value pattern matches.

    A pattern is first given to the database's own regular expressions, which agree with
    Python's on the narrow patterns governance uses, then checked with Python's ``fullmatch``,
    the one the service applies; a pattern the database cannot read is checked on every value.
    """
    field = "email" if kind == IdentifierKind.EMAIL else "phone_number"
    if match == MatchType.EXACT:
        return [value]
    compiled = re.compile(value)
    found: set[str] = set()
    for model in (Contact, IdentityLink):
        stored = model.objects.exclude(**{f"{field}__isnull": True})
        try:
            with transaction.atomic():
                candidates = set(
                    stored.filter(**{f"{field}__regex": f"^(?:{value})$"})
                    .values_list(field, flat=True)
                    .distinct()
                )
        except DatabaseError:
            candidates = set(stored.values_list(field, flat=True).distinct().iterator())
        found |= {candidate for candidate in candidates if compiled.fullmatch(candidate)}
    return sorted(found)


@dataclass(frozen=True)
class GovernancePreview:
    """What blocking (or unblocking) a value or a pattern would do, read without locks."""

    values: list[str]
    """The stored values it matches."""
    contacts: int
    """Live contacts carrying them."""
    splits: list[Regrouping]
    merges: list[Regrouping]
    over_limit: list[Regrouping]
    """Merged identities that would pass ``IDENTITY_MAX_CLUSTER_SIZE`` (an unblock)."""


def governance_preview(*, kind: str, match: str, value: str, block: bool) -> GovernancePreview:
    """The splits (a block) or merges (an unblock) of one blocklist entry, from stored rows."""
    values = matching_values(kind=kind, match=match, value=value)
    field = "email" if kind == IdentifierKind.EMAIL else "phone_number"
    carriers = list(Contact.live.filter(**{f"{field}__in": values}).values_list("id", "linked_id"))
    entries = set(BlockedIdentifier.objects.values_list("kind", "match", "value"))
    entry = (kind, match, value)
    with_entry = Blocklist.of(entries | {entry})
    without_entry = Blocklist.of(entries - {entry})
    rows, links = neighbourhood_rows(
        root_ids={linked_id or contact_id for contact_id, linked_id in carriers},
        nodes={(kind, stored) for stored in values},
        blocklist=without_entry,
    )
    before, after = (without_entry, with_entry) if block else (with_entry, without_entry)
    elected_after = elect_primaries(contacts=rows, links=links, blocklist=after)
    splits, merges = regroupings(
        elected_before=elect_primaries(contacts=rows, links=links, blocklist=before),
        elected_after=elected_after,
    )
    policy = current_policy(token=governance_token())
    members: dict[int, list[int]] = {}
    for contact_id, primary_id in elected_after.items():
        members.setdefault(primary_id, []).append(contact_id)
    return GovernancePreview(
        values=values,
        contacts=len(carriers),
        splits=splits,
        merges=merges,
        over_limit=[
            merge
            for merge in merges
            if policy.max_size and merge.size > policy.limit_for(members[merge.primary_id])
        ],
    )
