"""Reads of contacts and clusters for the writers: the clusters a request matches, the contacts a
correction starts from, and whole-table streams for the commands."""

from collections.abc import Iterator

from django.db import connection
from django.db.backends.utils import CursorWrapper
from django.db.models import Q
from django.db.models.functions import Coalesce
from psycopg.types.datetime import TimestamptzLoader

from contacts.graph import identifier_nodes
from contacts.models import Contact, IdentityLink
from contacts.rows import ContactRow, ContactState


def identifiers_filter(*, email: str | None, phone_number: str | None) -> Q:
    """Contacts carrying the email or the phone number, or an identifier a link record pairs with
    one of them (SPEC §3: that edge counts as soon as both are on live contacts); matches nothing
    when both are ``None``."""
    condition = Q(pk__in=[])
    if email is not None:
        condition |= Q(email=email) | Q(
            phone_number__in=IdentityLink.objects.filter(email=email).values("phone_number")
        )
    if phone_number is not None:
        condition |= Q(phone_number=phone_number) | Q(
            email__in=IdentityLink.objects.filter(phone_number=phone_number).values("email")
        )
    return condition


_CONTACTS = Contact._meta.db_table
_LINKS = IdentityLink._meta.db_table

# PostgreSQL: the live contacts of every cluster that holds %(email)s or %(phone_number)s, or an
# identifier that a link record pairs with one of them (identifiers_filter says why). Used by
# ``cluster_rows`` and by the writers that check, in the same statement as their write, that a
# cluster is still what they read.
#
# Written so that its only plan is index look-ups, whatever the planner knows of the table: each
# look-up is an equality on one value inside a LATERAL subquery, so scanning the table instead
# would be paid once per value. The plan is made once per connection and kept (settings:
# plan_cache_mode), possibly while the table is empty and has no statistics; with the look-ups
# ORed together, such a plan read the whole table, or its live partial index, on every request.
PG_CLUSTER_CTE = f"""
    wanted AS (
        SELECT %(email)s::varchar AS email, NULL::varchar AS phone_number
        UNION ALL SELECT NULL, %(phone_number)s::varchar
        UNION ALL SELECT email, NULL FROM {_LINKS} WHERE phone_number = %(phone_number)s::varchar
        UNION ALL SELECT NULL, phone_number FROM {_LINKS} WHERE email = %(email)s::varchar
    ),
    roots AS MATERIALIZED (
        SELECT ARRAY(
            SELECT DISTINCT COALESCE(matched.linked_id, matched.id)
            FROM wanted, LATERAL (
                SELECT id, linked_id FROM {_CONTACTS}
                WHERE deleted_at IS NULL AND email = wanted.email
                UNION ALL
                SELECT id, linked_id FROM {_CONTACTS}
                WHERE deleted_at IS NULL AND phone_number = wanted.phone_number
            ) AS matched
        ) AS ids
    ),
    cluster AS (
        SELECT member.* FROM roots, unnest(roots.ids) AS root(id), LATERAL (
            SELECT * FROM {_CONTACTS} WHERE deleted_at IS NULL AND id = root.id
            UNION ALL
            SELECT * FROM {_CONTACTS}
            WHERE deleted_at IS NULL AND linked_id = root.id AND id <> ALL(roots.ids)
        ) AS member
    )
"""

_PG_CLUSTER_ROWS_SQL = f"""
    WITH {PG_CLUSTER_CTE}
    SELECT id, email, phone_number, linked_id, created_at FROM cluster ORDER BY created_at, id
"""


def load_datetimes_in_c(cursor: CursorWrapper) -> None:
    """Parse ``timestamptz`` values with psycopg's own loader on this cursor.

    Django replaces it, on every connection, with a Python subclass that costs ~10 µs a value:
    most of the time of a lookup into a cluster of 10,000 contacts. psycopg's loader, written in
    C, gives the same aware datetimes in the connection's time zone (UTC, set by Django).
    """
    cursor.cursor.adapters.register_loader("timestamptz", TimestamptzLoader)


def cluster_rows(*, email: str | None, phone_number: str | None) -> list[ContactRow]:
    """Every live contact of every cluster that holds the email or the phone number, oldest first.

    One SQL statement, whatever the size of the clusters; plain rows, no model instances. On
    PostgreSQL, where it is the hot path of ``/identify/``, the statement is written by hand.
    """
    if connection.vendor != "postgresql":
        return _cluster_rows_orm(email=email, phone_number=phone_number)
    with connection.cursor() as cursor:
        load_datetimes_in_c(cursor)
        cursor.execute(_PG_CLUSTER_ROWS_SQL, {"email": email, "phone_number": phone_number})
        return list(map(ContactRow._make, cursor.fetchall()))


def _cluster_rows_orm(*, email: str | None, phone_number: str | None) -> list[ContactRow]:
    roots = (
        Contact.live.filter(identifiers_filter(email=email, phone_number=phone_number))
        .annotate(root=Coalesce("linked_id", "id"))
        .values("root")
    )
    rows = (
        Contact.live.filter(Q(id__in=roots) | Q(linked_id__in=roots))
        .order_by("created_at", "id")
        .values_list("id", "email", "phone_number", "linked_id", "created_at")
    )
    return [ContactRow(*row) for row in rows]


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


def _nodes_filter(nodes: set[tuple[str, str]], *, email_field: str, phone_field: str) -> Q:
    emails = [value for kind, value in nodes if kind == "email"]
    phones = [value for kind, value in nodes if kind == "phone"]
    return Q(**{f"{email_field}__in": emails}) | Q(**{f"{phone_field}__in": phones})


def neighbourhood_rows(
    *, root_ids: set[int], nodes: set[tuple[str, str]]
) -> tuple[list[ContactRow], list[tuple[str, str]]]:
    """Live contacts of the given clusters, and of every cluster linked to them, oldest first.

    Starting from the clusters rooted at ``root_ids`` and the contacts carrying ``nodes``, follows
    shared identifiers and link records until nothing new is reached; returns the contacts and the
    link records among their identifiers. What a correction must reconcile (SPEC §3).
    """
    roots, reached = set(root_ids), set(nodes)
    while True:
        rows = [
            ContactRow(*row)
            for row in Contact.live.filter(
                Q(id__in=roots)
                | Q(linked_id__in=roots)
                | _nodes_filter(reached, email_field="email", phone_field="phone_number")
            )
            .order_by("created_at", "id")
            .values_list("id", "email", "phone_number", "linked_id", "created_at")
        ]
        row_nodes = {
            node
            for row in rows
            for node in identifier_nodes(email=row.email, phone_number=row.phone_number)
        }
        links = list(
            IdentityLink.objects.filter(
                _nodes_filter(row_nodes, email_field="email", phone_field="phone_number")
            ).values_list("email", "phone_number")
        )
        link_nodes = {
            node for email, phone in links for node in (("email", email), ("phone", phone))
        }
        new_roots = {row.root_id for row in rows}
        if new_roots <= roots and (row_nodes | link_nodes) <= reached:
            return rows, links
        roots |= new_roots
        reached |= row_nodes | link_nodes
