"""The rules of ``POST /identify/`` (SPEC §4) as a pure function over the rows of matched clusters.

``plan_identify`` decides what a request must write; ``contacts.services.identify`` takes the
locks and applies the plan; ``identity_from_rows`` builds the answer from a cluster's rows (for
``/identify/`` and the read-only lookup alike). Keeping the decision free of the ORM lets the
service re-plan cheaply after it has locked (see docs/concurrency.md) and lets tests check the rules
directly.
"""

import enum
from dataclasses import dataclass, field
from operator import attrgetter

from contacts.governance import OPEN_POLICY, Identifiers, Policy
from contacts.models import HeldMergeKind
from contacts.rows import ContactRow


class Outcome(enum.StrEnum):
    """What a request did; logged and counted by the benchmark."""

    NEW_PRIMARY = "new_primary"
    NEW_SECONDARY = "new_secondary"
    MERGE = "merge"
    UNCHANGED = "unchanged"
    HELD = "held"


@dataclass(frozen=True, slots=True)
class Hold:
    """Why a request's write is held rather than applied (docs/governance.md)."""

    kind: HeldMergeKind
    size: int
    """Live contacts the identity would have had."""
    limit: int
    """The limit it would have passed; 0 for a never-link pair."""
    other_primary_ids: list[int]
    never_link: bool = False


@dataclass(frozen=True)
class IdentifyPlan:
    """The writes one request needs, given the live rows of the clusters it matched."""

    email: str | None
    phone_number: str | None
    rows: list[ContactRow]
    primary: ContactRow | None
    """The oldest primary among the matched clusters: the one that stays primary."""
    demoted_ids: list[int] = field(default_factory=list)
    """Primaries of the other matched clusters, which become secondaries of ``primary``."""
    new_identifiers: list[tuple[str, str]] = field(default_factory=list)
    """``("email", value)`` / ``("phone", value)``: what the request brings that no contact has."""
    stores_link: bool = False
    """The request bridges clusters without creating a row: keep the pair as a link record."""
    match_email: str | None = None
    match_phone_number: str | None = None
    """The request's values that are not blocked: what it is matched by."""
    hold: Hold | None = None
    """Set when the write would pass a size limit or join a never-link pair: nothing changes in
    the clusters; the request is answered with the cluster of ``primary``."""
    policy_token: int = 0
    """The ``GovernanceVersion`` token of the decisions the plan was made with."""

    @property
    def answer_rows(self) -> list[ContactRow]:
        """The rows the request is answered with, before what it writes."""
        if self.hold is None:
            return self.rows
        root_id = self.primary.root_id
        return [row for row in self.rows if row.root_id == root_id]

    @property
    def cluster_ids(self) -> list[int]:
        """Ids of the primaries whose clusters this plan touches, ascending."""
        ids = self.demoted_ids + ([self.primary.id] if self.primary else [])
        return sorted(ids)

    @property
    def bridged_by(self) -> dict[int, list[str]]:
        """For each demoted primary, what of the request its cluster held (``email``,
        ``phoneNumber``), or ``link`` when a link record reached it: the kinds, never the values,
        for the history and the ``identity.merged`` event."""
        if not self.demoted_ids:
            return {}
        held: dict[int, set[str]] = {primary_id: set() for primary_id in self.demoted_ids}
        for row in self.rows:
            kinds = held.get(row.root_id)
            if kinds is None:
                continue
            if self.match_email is not None and row.email == self.match_email:
                kinds.add("email")
            if self.match_phone_number is not None and row.phone_number == self.match_phone_number:
                kinds.add("phoneNumber")
        return {primary_id: sorted(kinds) or ["link"] for primary_id, kinds in held.items()}

    @property
    def creates_contact(self) -> bool:
        return bool(self.new_identifiers)

    @property
    def outcome(self) -> Outcome:
        if self.hold is not None:
            return Outcome.HELD
        if self.primary is None:
            return Outcome.NEW_PRIMARY
        if self.demoted_ids:
            return Outcome.MERGE
        if self.creates_contact:
            return Outcome.NEW_SECONDARY
        return Outcome.UNCHANGED

    @property
    def writes(self) -> bool:
        return self.outcome is not Outcome.UNCHANGED


def plan_identify(
    *,
    rows: list[ContactRow],
    email: str | None,
    phone_number: str | None,
    policy: Policy = OPEN_POLICY,
) -> IdentifyPlan:
    """Apply SPEC §4 rules 1 to 4 to the live rows of every cluster holding either identifier.

    ``rows`` are the clusters matched by the values ``policy`` does not block; a blocked value is
    stored with the contact the request creates but is neither matched nor new information
    (docs/governance.md). A write that would pass the identity's size limit, or join a pair a
    person rejected, is held instead (``IdentifyPlan.hold``).

    The rules are written for healthy data, but the plan stays sound on any rows: every cluster that
    holds one of the identifiers is merged into the oldest one, which is what the graph of SPEC §3
    says they are.
    """
    identifiers = policy.identifiers(email=email, phone_number=phone_number)
    match_email, match_phone_number = identifiers.match_email, identifiers.match_phone_number
    by_id = {row.id: row for row in rows}
    # Every cluster read was matched: by the email, the phone number, or a link record that pairs
    # one of them with an identifier of that cluster (``contacts.db``'s ``cluster_rows``).
    matched_roots = {row.root_id for row in rows}
    new_identifiers = []
    if match_email is not None and match_email not in {row.email for row in rows}:
        new_identifiers.append(("email", match_email))
    if match_phone_number is not None and match_phone_number not in {
        row.phone_number for row in rows
    }:
        new_identifiers.append(("phone", match_phone_number))
    if not matched_roots:
        return IdentifyPlan(
            email=email,
            phone_number=phone_number,
            rows=rows,
            primary=None,
            new_identifiers=new_identifiers,
            match_email=match_email,
            match_phone_number=match_phone_number,
            policy_token=policy.token,
        )

    def cluster_head(root_id: int) -> ContactRow:
        """The primary row of a cluster; its oldest live row if the primary is gone."""
        return by_id.get(root_id) or min(
            (row for row in rows if row.root_id == root_id), key=lambda row: row.age_key
        )

    primary = min((cluster_head(root_id) for root_id in matched_roots), key=lambda row: row.age_key)
    demoted_ids = sorted(matched_roots - {primary.id})
    stores_link = (
        bool(demoted_ids)
        and not new_identifiers
        and match_email is not None
        and match_phone_number is not None
        and not any(
            row.email == match_email and row.phone_number == match_phone_number for row in rows
        )
    )
    return IdentifyPlan(
        email=email,
        phone_number=phone_number,
        rows=rows,
        primary=primary,
        demoted_ids=demoted_ids,
        new_identifiers=new_identifiers,
        stores_link=stores_link,
        match_email=match_email,
        match_phone_number=match_phone_number,
        hold=_hold(
            rows=rows,
            identifiers=identifiers,
            primary=primary,
            matched_roots=matched_roots,
            grows=bool(new_identifiers),
            policy=policy,
        ),
        policy_token=policy.token,
    )


def _hold(
    *,
    rows: list[ContactRow],
    identifiers: Identifiers,
    primary: ContactRow,
    matched_roots: set[int],
    grows: bool,
    policy: Policy,
) -> Hold | None:
    """Whether a write into existing clusters must wait for a person (docs/governance.md): it
    joins a never-link pair, or the identity it makes would pass its limit (a cluster already
    past it does not grow)."""
    others = sorted(matched_roots - {primary.root_id})
    if not others and not grows:
        return None
    kind = HeldMergeKind.MERGE if others else HeldMergeKind.GROWTH
    size = len(rows) + (1 if grows else 0)
    pair = (identifiers.match_email, identifiers.match_phone_number)
    if others and pair in policy.never_link:
        return Hold(kind=kind, size=size, limit=0, other_primary_ids=others, never_link=True)
    if not policy.max_size or size <= policy.max_size:
        return None
    limit = policy.limit_for(row.id for row in rows)
    if size <= limit:
        return None
    return Hold(kind=kind, size=size, limit=limit, other_primary_ids=others)


# ``ContactRow.age_key`` as a C-level key function.
_BY_AGE = attrgetter("created_at", "id")


@dataclass(frozen=True)
class Identity:
    """The consolidated identity of one cluster, as ``/identify/`` answers it (SPEC §4)."""

    primary_id: int
    emails: list[str]
    phone_numbers: list[str]
    secondary_ids: list[int]
    outcome: Outcome


def identity_from_rows(*, rows: list[ContactRow], primary_id: int, outcome: Outcome) -> Identity:
    """Consolidate the live rows of one cluster: the primary's values first, then by age.

    Written for clusters of thousands of rows: sorting by a C-level key and collecting values with
    list comprehensions takes a fraction of the time of per-row Python calls.
    """
    ordered = sorted(rows, key=_BY_AGE)
    primary = next(row for row in ordered if row.id == primary_id)
    emails = dict.fromkeys([primary.email, *[row.email for row in ordered]])
    phone_numbers = dict.fromkeys([primary.phone_number, *[row.phone_number for row in ordered]])
    emails.pop(None, None)
    phone_numbers.pop(None, None)
    return Identity(
        primary_id=primary_id,
        emails=list(emails),
        phone_numbers=list(phone_numbers),
        secondary_ids=sorted([row.id for row in rows if row.id != primary_id]),
        outcome=outcome,
    )
