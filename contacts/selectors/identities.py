"""Reads of whole identities for the API: the read-only lookup, and one identity explained.

Nothing here writes, not even a link record: a lookup answers what ``/identify/`` would answer
only when ``/identify/`` would write nothing.
"""

from dataclasses import dataclass

from django.db.models import Q, QuerySet

from contacts.exceptions import IdentitiesConflict, IdentityNotFound
from contacts.explain import Reason, membership_reasons
from contacts.models import ClusterEvent, Contact, IdentityLink
from contacts.normalize import MAX_CONTACT_ID
from contacts.rows import ContactRow
from contacts.rules import Identity, Outcome, identity_from_rows
from contacts.selectors.matching import clusters_matching


def identity_lookup(*, email: str | None, phone_number: str | None) -> Identity:
    """The identity that already holds these (normalized) identifiers, read in one statement.

    Raises ``IdentityNotFound`` when no live contact carries either, and ``IdentitiesConflict``
    when the email and the phone number belong to two identities. An identifier that no live
    contact carries is left out, never added. A blocked value is not matched, as on
    ``/identify/``: ``IdentifiersBlocked`` when every value given is blocked.
    """
    matched = clusters_matching(email=email, phone_number=phone_number)
    rows = matched.rows
    email, phone_number = matched.identifiers.match_email, matched.identifiers.match_phone_number
    email_roots = _roots_carrying(rows, email=email)
    phone_roots = _roots_carrying(rows, phone_number=phone_number)
    if email_roots and phone_roots and email_roots != phone_roots:
        raise IdentitiesConflict(
            email_primary_id=min(email_roots), phone_primary_id=min(phone_roots)
        )
    roots = email_roots or phone_roots
    if not roots:
        raise IdentityNotFound
    root = min(roots)
    members = [row for row in rows if row.root_id == root]
    return identity_from_rows(rows=members, primary_id=root, outcome=Outcome.UNCHANGED)


def _roots_carrying(
    rows: list[ContactRow], *, email: str | None = None, phone_number: str | None = None
) -> set[int]:
    if email is None and phone_number is None:
        return set()
    return {
        row.root_id
        for row in rows
        if (email is not None and row.email == email)
        or (phone_number is not None and row.phone_number == phone_number)
    }


@dataclass(frozen=True)
class ClusterMembers:
    """A cluster's live contacts (the primary first, then oldest first) and why each belongs."""

    primary: Contact
    members: list[Contact]
    emails: list[str]
    phone_numbers: list[str]
    links: list[IdentityLink]
    """Link records among the cluster's identifiers: requests that bridged two clusters."""
    reasons: dict[int, Reason]

    @property
    def explained_members(self) -> list[tuple[Contact, Reason]]:
        return [(member, self.reasons[member.id]) for member in self.members]

    @property
    def identity(self) -> Identity:
        return Identity(
            primary_id=self.primary.id,
            emails=self.emails,
            phone_numbers=self.phone_numbers,
            secondary_ids=sorted(member.id for member in self.members[1:]),
            outcome=Outcome.UNCHANGED,
        )


def cluster_members(*, primary_id: int) -> ClusterMembers:
    """The cluster led by the live primary ``primary_id``; raises ``Contact.DoesNotExist``."""
    # A UNION of the two look-ups: SQLite reads the whole table for them ORed together.
    members = list(
        Contact.live.order_by()
        .filter(id=primary_id)
        .union(Contact.live.order_by().filter(linked_id=primary_id))
        .order_by("created_at", "id")
    )
    primary = next((member for member in members if member.id == primary_id), None)
    if primary is None or not primary.is_primary:
        raise Contact.DoesNotExist(f"no live primary contact {primary_id}")
    members = [primary, *(member for member in members if member.id != primary_id)]
    emails = list(dict.fromkeys(member.email for member in members if member.email))
    phone_numbers = list(
        dict.fromkeys(member.phone_number for member in members if member.phone_number)
    )
    links = list(IdentityLink.objects.filter(email__in=emails, phone_number__in=phone_numbers))
    return ClusterMembers(
        primary=primary,
        members=members,
        emails=emails,
        phone_numbers=phone_numbers,
        links=links,
        reasons=membership_reasons(contacts=members, links=links, primary_id=primary_id),
    )


def cluster_history(*, member_ids: list[int]) -> QuerySet:
    """Every event about any of these contacts or naming one of them as primary."""
    return ClusterEvent.objects.filter(Q(contact_id__in=member_ids) | Q(primary_id__in=member_ids))


def identity_of_contact(*, contact_id: int) -> ClusterMembers:
    """The cluster contact ``contact_id`` belongs to now (a merged-away primary's is the one it
    joined). Raises ``IdentityNotFound`` for an unknown or soft-deleted contact."""
    if contact_id > MAX_CONTACT_ID:
        raise IdentityNotFound(f"No contact #{contact_id}.", code="contact_not_found")
    contact = Contact.objects.filter(id=contact_id).values("linked_id", "deleted_at").first()
    if contact is None:
        raise IdentityNotFound(f"No contact #{contact_id}.", code="contact_not_found")
    if contact["deleted_at"] is not None:
        raise IdentityNotFound(
            f"Contact #{contact_id} is soft-deleted: it belongs to no identity.",
            code="contact_deleted",
        )
    try:
        return cluster_members(primary_id=contact["linked_id"] or contact_id)
    except Contact.DoesNotExist as error:
        raise IdentityNotFound(
            f"Contact #{contact_id}'s links are being repaired; retry shortly.",
            code="identity_unavailable",
        ) from error
