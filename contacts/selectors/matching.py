"""The first read of ``/identify/`` and of the lookup: the clusters a request's values match, under
the governance decisions current when they were read (docs/governance.md)."""

from dataclasses import dataclass

from contacts.db import backend
from contacts.exceptions import IdentifiersBlocked, IdentifiersSuppressed
from contacts.governance import Identifiers, Policy
from contacts.rows import ContactRow
from contacts.selectors.governance import cached_policy, current_policy, governance_token


@dataclass(frozen=True, slots=True)
class MatchedClusters:
    identifiers: Identifiers
    rows: list[ContactRow]
    """Live rows of every cluster the unblocked values match, oldest first."""
    policy: Policy
    """The decisions of the token read with ``rows``."""


def clusters_matching(*, email: str | None, phone_number: str | None) -> MatchedClusters:
    """Match the values this process's blocklist does not block, in one statement; read again
    with the current decisions in the rare case that statement's token says they changed.

    Raises ``IdentifiersBlocked`` when every value given is blocked (checked against the stored
    token first, so that a value unblocked elsewhere is never refused from a stale copy), and
    ``IdentifiersSuppressed`` when a value given was erased with suppression (docs/privacy.md).
    """
    policy = cached_policy()
    while True:
        identifiers = policy.identifiers(email=email, phone_number=phone_number)
        if identifiers.all_blocked:
            current = current_policy(token=governance_token())
            if current.token == policy.token:
                raise IdentifiersBlocked(fields=identifiers.blocked_fields)
            policy = current
            continue
        rows, token = backend().cluster_rows(
            email=identifiers.match_email, phone_number=identifiers.match_phone_number
        )
        if token == policy.token:
            suppressed = policy.suppressions.fields(email=email, phone_number=phone_number)
            if suppressed:
                raise IdentifiersSuppressed(fields=suppressed)
            return MatchedClusters(identifiers=identifiers, rows=rows, policy=policy)
        policy = current_policy(token=token)
