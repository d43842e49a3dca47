"""Identifier governance as plain values (docs/governance.md): which values are blocked, which
pairs never link, and how large an identity may grow. No database: the selectors load a
``Policy``, the rules and the graph apply it, the services decide with it under their locks.
"""

import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial

from contacts.models import IdentifierKind, MatchType


@dataclass(frozen=True)
class Blocklist:
    """Exact values and whole-value patterns, per kind (``"email"``, ``"phone"``), canonical."""

    exact: Mapping[str, frozenset[str]] = field(default_factory=dict)
    patterns: Mapping[str, tuple[re.Pattern[str], ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, entries: Iterable[tuple[str, str, str]]) -> "Blocklist":
        """From ``(kind, match, value)`` entries, as ``BlockedIdentifier`` rows hold them."""
        exact: dict[str, set[str]] = {kind: set() for kind in IdentifierKind.values}
        patterns: dict[str, list[re.Pattern[str]]] = {kind: [] for kind in IdentifierKind.values}
        for kind, match, value in entries:
            if match == MatchType.PATTERN:
                patterns[kind].append(re.compile(value))
            else:
                exact[kind].add(value)
        return cls(
            exact={kind: frozenset(values) for kind, values in exact.items()},
            patterns={kind: tuple(compiled) for kind, compiled in patterns.items()},
        )

    def blocks(self, kind: str, value: str) -> bool:
        """Whether a canonical value of this kind is blocked."""
        if value in self.exact.get(kind, ()):
            return True
        return any(pattern.fullmatch(value) for pattern in self.patterns.get(kind, ()))

    def matcher(self, kind: str) -> Callable[[str], object] | None:
        """The cheapest test of values of one kind, for passes over millions of them: truthy for
        a blocked value; ``None`` when nothing of the kind is blocked. A set's ``__contains__``
        or a pattern's ``fullmatch`` alone is called without a Python frame."""
        exact, patterns = self.exact.get(kind, frozenset()), self.patterns.get(kind, ())
        if not patterns:
            return exact.__contains__ if exact else None
        if not exact and len(patterns) == 1:
            return patterns[0].fullmatch
        return partial(self.blocks, kind)

    def nodes(self, *, email: str | None, phone_number: str | None) -> list[tuple[str, str]]:
        """The graph's nodes of a contact: its values that are not blocked."""
        nodes = []
        if email is not None and not self.blocks("email", email):
            nodes.append(("email", email))
        if phone_number is not None and not self.blocks("phone", phone_number):
            nodes.append(("phone", phone_number))
        return nodes


NO_BLOCKLIST = Blocklist()


def identifier_digest(*, kind: str, value: str, key: str) -> str:
    """The keyed hash (HMAC-SHA256, hex) by which the erasure ledger and the suppression list
    know a canonical value without holding it (docs/privacy.md)."""
    return hmac.new(key.encode(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Suppressions:
    """Erased values whose erasure asked that they never come back, as keyed hashes."""

    digests: frozenset[tuple[str, str]] = frozenset()
    """``(kind, digest)`` pairs."""
    key: str = ""

    def fields(self, *, email: str | None, phone_number: str | None) -> list[str]:
        """The request's fields, as the API names them, whose values are suppressed."""
        if not self.digests:
            return []
        given = (("email", "email", email), ("phoneNumber", "phone", phone_number))
        return [
            name
            for name, kind, value in given
            if value is not None
            and (kind, identifier_digest(kind=kind, value=value, key=self.key)) in self.digests
        ]


NO_SUPPRESSIONS = Suppressions()


@dataclass(frozen=True, slots=True)
class Identifiers:
    """A request's canonical values, and the ones it is matched by: those not blocked."""

    email: str | None
    phone_number: str | None
    match_email: str | None
    match_phone_number: str | None

    @property
    def blocked_fields(self) -> list[str]:
        """The request's fields whose values are blocked, as the API names them."""
        fields = []
        if self.email is not None and self.match_email is None:
            fields.append("email")
        if self.phone_number is not None and self.match_phone_number is None:
            fields.append("phoneNumber")
        return fields

    @property
    def all_blocked(self) -> bool:
        return self.match_email is None and self.match_phone_number is None


@dataclass(frozen=True)
class Policy:
    """Every governance decision a write needs, as of one ``GovernanceVersion`` token."""

    token: int = 0
    blocklist: Blocklist = NO_BLOCKLIST
    never_link: frozenset[tuple[str, str]] = frozenset()
    """Email and phone number pairs a person rejected for good: they never join identities."""
    limits: Mapping[int, int] = field(default_factory=dict)
    """Raised limits a person approved, by a contact of the identity they apply to."""
    max_size: int = 0
    """``IDENTITY_MAX_CLUSTER_SIZE``: live contacts an identity may reach; 0 for no limit."""
    suppressions: Suppressions = NO_SUPPRESSIONS
    """Erased values later requests may not bring back (docs/privacy.md)."""

    def identifiers(self, *, email: str | None, phone_number: str | None) -> Identifiers:
        blocks = self.blocklist.blocks
        return Identifiers(
            email=email,
            phone_number=phone_number,
            match_email=None if email is None or blocks("email", email) else email,
            match_phone_number=(
                None if phone_number is None or blocks("phone", phone_number) else phone_number
            ),
        )

    def limit_for(self, contact_ids: Iterable[int]) -> int:
        """The limit of an identity holding these contacts: the largest raised one, if any, else
        ``max_size``; 0 when there is no limit."""
        if not self.max_size:
            return 0
        limits = self.limits
        raised = [limits[contact_id] for contact_id in contact_ids if contact_id in limits]
        return max([self.max_size, *raised])


OPEN_POLICY = Policy()
"""No blocked values, no limit: SPEC §3's graph as it was before governance."""


@dataclass(frozen=True, slots=True)
class Regrouping:
    """One identity a governance change splits or forms by merging: its primary and size before
    (or after), and the parts it becomes (or came from), as ``(primary id, live contacts)``."""

    primary_id: int
    size: int
    parts: list[tuple[int, int]]


def regroupings(
    *, elected_before: Mapping[int, int], elected_after: Mapping[int, int]
) -> tuple[list[Regrouping], list[Regrouping]]:
    """The splits and the merges between two elections of primaries over the same contacts
    (``graph.elect_primaries`` under two blocklists): what a block or an unblock would do."""

    def sizes(elected: Mapping[int, int]) -> dict[int, int]:
        counted: dict[int, int] = {}
        for primary_id in elected.values():
            counted[primary_id] = counted.get(primary_id, 0) + 1
        return counted

    def grouped(
        source: Mapping[int, int], target: Mapping[int, int], target_sizes: dict[int, int]
    ) -> dict[int, list[tuple[int, int]]]:
        parts: dict[int, set[int]] = {}
        for contact_id, primary_id in source.items():
            parts.setdefault(primary_id, set()).add(target[contact_id])
        return {
            primary_id: [(part, target_sizes[part]) for part in sorted(targets)]
            for primary_id, targets in parts.items()
        }

    before_sizes, after_sizes = sizes(elected_before), sizes(elected_after)
    split_into = grouped(elected_before, elected_after, after_sizes)
    merged_from = grouped(elected_after, elected_before, before_sizes)
    splits = [
        Regrouping(primary_id=primary_id, size=before_sizes[primary_id], parts=parts)
        for primary_id, parts in sorted(split_into.items())
        if len(parts) > 1
    ]
    merges = [
        Regrouping(primary_id=primary_id, size=after_sizes[primary_id], parts=parts)
        for primary_id, parts in sorted(merged_from.items())
        if len(parts) > 1
    ]
    return splits, merges
