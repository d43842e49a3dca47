"""Reads of contacts and clusters for the writers: the clusters a request matches, the contacts a
correction starts from, and whole-table streams for the commands."""

from collections.abc import Iterator

from django.db.models import Q

from contacts.governance import NO_BLOCKLIST, Blocklist
from contacts.models import Contact, IdentityLink
from contacts.rows import ContactRow, ContactState


def contact_states(*, contact_ids: list[int]) -> list[ContactState]:
    """Contacts, live or soft-deleted, in the order of ``contact_ids``, in one statement.

    Raises ``Contact.DoesNotExist`` if any of them does not exist.
    """
    by_id = {
        row[0]: ContactState(*row)
        for row in Contact.objects.filter(id__in=contact_ids).values_list(
            "id", "email", "phone_number", "linked_id", "created_at", "deleted_at"
        )
    }
    missing = set(contact_ids) - by_id.keys()
    if missing:
        raise Contact.DoesNotExist(f"no contact with id {min(missing)}")
    return [by_id[contact_id] for contact_id in contact_ids]


def live_contacts_by_age(
    *, chunk_size: int
) -> Iterator[tuple[int, str | None, str | None, int | None]]:
    """Every live contact as ``(id, email, phone_number, linked_id)``, oldest first, streamed.

    A server-side cursor on PostgreSQL: memory stays at ``chunk_size`` rows whatever the table.
    The age order (``created_at``, then ``id``) lets a whole-table pass elect the oldest contact of
    a component without reading ``created_at`` at all.
    """
    return (
        Contact.live.order_by("created_at", "id")
        .values_list("id", "email", "phone_number", "linked_id")
        .iterator(chunk_size=chunk_size)
    )


def identity_link_pairs(*, chunk_size: int) -> Iterator[tuple[str, str]]:
    """Every link record as ``(email, phone_number)``, streamed."""
    return (
        IdentityLink.objects.order_by()
        .values_list("email", "phone_number")
        .iterator(chunk_size=chunk_size)
    )


def _live_rows_any(*conditions: Q) -> list[ContactRow]:
    """Live contacts that meet any of ``conditions``, oldest first, in one statement: a UNION of
    one look-up per condition, where SQLite would read the whole table for the look-ups ORed
    together on the live contacts' partial indexes."""
    parts = [
        Contact.live.order_by()
        .filter(condition)
        .values_list("id", "email", "phone_number", "linked_id", "created_at")
        for condition in conditions
    ]
    return [ContactRow(*row) for row in parts[0].union(*parts[1:]).order_by("created_at", "id")]


def _nodes_filter(nodes: set[tuple[str, str]], *, email_field: str, phone_field: str) -> Q:
    emails = [value for kind, value in nodes if kind == "email"]
    phones = [value for kind, value in nodes if kind == "phone"]
    return Q(**{f"{email_field}__in": emails}) | Q(**{f"{phone_field}__in": phones})


def neighbourhood_rows(
    *,
    root_ids: set[int],
    nodes: set[tuple[str, str]],
    blocklist: Blocklist = NO_BLOCKLIST,
) -> tuple[list[ContactRow], list[tuple[str, str]]]:
    """Live contacts of the given clusters, and of every cluster linked to them, oldest first.

    Starting from the clusters rooted at ``root_ids`` and the contacts carrying ``nodes``, follows
    shared identifiers and link records until nothing new is reached; returns the contacts and the
    link records touching their identifiers or ``nodes``: what a correction must reconcile (§3).
    Values ``blocklist`` blocks are not followed (they link nothing), unless given in ``nodes``.
    """
    roots, reached = set(root_ids), set(nodes)
    while True:
        rows = _live_rows_any(
            Q(id__in=roots),
            Q(linked_id__in=roots),
            Q(email__in=[value for kind, value in reached if kind == "email"]),
            Q(phone_number__in=[value for kind, value in reached if kind == "phone"]),
        )
        row_nodes = {
            node
            for row in rows
            for node in blocklist.nodes(email=row.email, phone_number=row.phone_number)
        }
        links = list(
            IdentityLink.objects.filter(
                _nodes_filter(row_nodes | reached, email_field="email", phone_field="phone_number")
            ).values_list("email", "phone_number")
        )
        link_nodes = {
            node
            for email, phone in links
            for node in blocklist.nodes(email=email, phone_number=phone)
        }
        new_roots = {row.root_id for row in rows}
        if new_roots <= roots and (row_nodes | link_nodes) <= reached:
            return rows, links
        roots |= new_roots
        reached |= row_nodes | link_nodes
