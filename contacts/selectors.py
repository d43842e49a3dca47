"""Reads of contacts and clusters, shared by the API, the admin and the commands."""

from datetime import datetime
from typing import NamedTuple

from django.db import connection
from django.db.backends.utils import CursorWrapper
from django.db.models import Q
from django.db.models.functions import Coalesce
from psycopg.types.datetime import TimestamptzLoader

from contacts.models import Contact


class ContactRow(NamedTuple):
    """The columns of a live contact that reconciliation needs; cheaper than a model instance.

    A named tuple, which builds from a database row several times faster than a frozen dataclass:
    a lookup into a cluster of 10,000 contacts builds 10,000 of them.
    """

    id: int
    email: str | None
    phone_number: str | None
    linked_id: int | None
    created_at: datetime

    @property
    def root_id(self) -> int:
        """The id of the primary this contact belongs to (its own id on a primary)."""
        return self.linked_id if self.linked_id is not None else self.id

    @property
    def age_key(self) -> tuple[datetime, int]:
        """Older contacts sort first: ``created_at``, then ``id`` (SPEC §2 invariant 4)."""
        return (self.created_at, self.id)


def identifiers_filter(*, email: str | None, phone_number: str | None) -> Q:
    """Contacts carrying the email or the phone number; matches nothing when both are ``None``."""
    condition = Q(pk__in=[])
    if email is not None:
        condition |= Q(email=email)
    if phone_number is not None:
        condition |= Q(phone_number=phone_number)
    return condition


_CONTACTS = Contact._meta.db_table

# PostgreSQL: the live contacts of every cluster that holds %(email)s or %(phone_number)s. The roots
# (the clusters' primary ids) are gathered once into an array, so that the planner looks each
# cluster up through the primary key and contact_live_linked; ``IN (subquery)`` on both columns
# would make it scan the table. Used by ``cluster_rows`` and by the writers that check, in the
# same statement as their write, that a cluster is still what they read.
PG_CLUSTER_CTE = f"""
    roots AS MATERIALIZED (
        SELECT ARRAY(
            SELECT DISTINCT COALESCE(linked_id, id) FROM {_CONTACTS}
            WHERE deleted_at IS NULL AND (email = %(email)s OR phone_number = %(phone_number)s)
        ) AS ids
    ),
    cluster AS (
        SELECT contact.* FROM {_CONTACTS} AS contact, roots
        WHERE contact.deleted_at IS NULL
          AND (contact.id = ANY(roots.ids) OR contact.linked_id = ANY(roots.ids))
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
