"""An import of order history as if each row were sent to ``/identify/`` oldest first (SPEC §4),
decided in bulk over the graph of what is stored (``manage.py import_contacts``)."""

from dataclasses import dataclass, field
from datetime import datetime

from contacts.governance import OPEN_POLICY, Policy
from contacts.graph import NO_LINK, ContactGraph


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One valid, normalized row of an import file, and the line it came from."""

    line: int
    email: str | None
    phone_number: str | None
    created_at: datetime


@dataclass(frozen=True)
class ImportPlan:
    """What sending the rows of an import to ``/identify/`` one by one would write."""

    first_position: int
    """Position in the graph of the first new contact; the others follow in ``contacts`` order."""
    contacts: list[ImportRow]
    """Rows that create a contact, oldest first (SPEC §4 rules 1 and 2)."""
    links: list[ImportRow]
    """Rows that bridge clusters without creating a row: stored as link records (rule 3)."""
    unchanged: int
    """Rows whose identifiers were all known and already in one cluster (rule 4)."""
    blocked: list[ImportRow] = field(default_factory=list)
    """Rows whose every value is blocked: ``/identify/`` refuses them (docs/governance.md)."""
    never_linked: list[ImportRow] = field(default_factory=list)
    """Rows that would join a pair a person rejected for good: written as nothing."""


def plan_import(
    *, graph: ContactGraph, rows: list[ImportRow], policy: Policy = OPEN_POLICY
) -> ImportPlan:
    """Apply SPEC §4 to ``rows`` in created-time order (then line order), over ``graph`` in bulk.

    ``graph`` holds what is stored already, with ``policy``'s blocklist; each row that creates a
    contact is added to it (with id ``NO_LINK`` until ids are reserved), each bridge joins its
    components. Which rows create a contact and which store a link record depends only on which
    identifiers are known and which components they are in when the row comes, so one pass over a
    union-find decides it. Blocked values are stored but neither matched nor new information, as
    on ``/identify/``; the size limit is checked afterwards (``oversized_components``).
    """
    first_position = len(graph)
    contacts, links, unchanged, blocked, never_linked = [], [], 0, [], []
    node, find = graph.node, graph.sets.find
    blocked_email, blocked_phone = graph.blocked("email"), graph.blocked("phone")
    for row in sorted(rows, key=lambda row: (row.created_at, row.line)):
        email, phone_number = row.email, row.phone_number
        if email is not None and blocked_email is not None and blocked_email(email):
            email = None
        if phone_number is not None and blocked_phone is not None and blocked_phone(phone_number):
            phone_number = None
        if email is None and phone_number is None:
            blocked.append(row)
            continue
        email_node = None if email is None else node("email", email)
        phone_node = None if phone_number is None else node("phone", phone_number)
        if (email is not None and email_node is None) or (
            phone_number is not None and phone_node is None
        ):
            graph.add_contact(
                contact_id=NO_LINK,
                email=row.email,
                phone_number=row.phone_number,
                linked_id=None,
            )
            contacts.append(row)
        elif (
            email_node is not None
            and phone_node is not None
            and find(email_node) != find(phone_node)
        ):
            if (email, phone_number) in policy.never_link:
                never_linked.append(row)
                continue
            graph.sets.union(email_node, phone_node)
            links.append(row)
        else:
            unchanged += 1
    return ImportPlan(
        first_position=first_position,
        contacts=contacts,
        links=links,
        unchanged=unchanged,
        blocked=blocked,
        never_linked=never_linked,
    )
