"""Reads of contacts and clusters, shared by the API, the admin and the commands."""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection
from django.db.models import Q
from django.db.models.functions import Coalesce

from contacts.models import Contact


@dataclass(frozen=True, slots=True)
class ContactRow:
    """The columns of a live contact that reconciliation needs; cheaper than a model instance."""

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

# ``created_at`` as UTC without a time zone: psycopg parses that in C, where Django's loader for
# ``timestamptz`` is Python code that costs ~10 µs a row (most of a 10,000-contact lookup).
_PG_CLUSTER_ROWS_SQL = f"""
    WITH {PG_CLUSTER_CTE}
    SELECT id, email, phone_number, linked_id, created_at AT TIME ZONE 'UTC' FROM cluster
    ORDER BY created_at, id
"""


def cluster_rows(*, email: str | None, phone_number: str | None) -> list[ContactRow]:
    """Every live contact of every cluster that holds the email or the phone number, oldest first.

    One SQL statement, whatever the size of the clusters; plain rows, no model instances. On
    PostgreSQL, where it is the hot path of ``/identify/``, the statement is written by hand.
    """
    if connection.vendor != "postgresql":
        return _cluster_rows_orm(email=email, phone_number=phone_number)
    with connection.cursor() as cursor:
        cursor.execute(_PG_CLUSTER_ROWS_SQL, {"email": email, "phone_number": phone_number})
        rows = cursor.fetchall()
    return [
        ContactRow(id, email, phone_number, linked_id, created_at.replace(tzinfo=UTC))
        for id, email, phone_number, linked_id, created_at in rows
    ]


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
