"""Reads of contacts and clusters, shared by the API, the admin and the commands."""

from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Q
from django.utils.timezone import make_aware

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

# The primaries of the clusters that hold the email or the phone number. Each identifier is found
# through its partial index (contact_live_email / contact_live_phone).
CLUSTER_ROOTS_SQL = f"""
    SELECT DISTINCT COALESCE(linked_id, id) AS id FROM {_CONTACTS}
    WHERE deleted_at IS NULL AND (email = %(email)s OR phone_number = %(phone_number)s)
"""

# The live contacts of those clusters: each root, and what links to it (contact_live_linked). Two
# index look-ups per root, where ``id IN roots OR linked_id IN roots`` would scan the table.
CLUSTER_MEMBERS_SQL = f"""
    SELECT contact.id, contact.email, contact.phone_number, contact.linked_id, contact.created_at
    FROM {_CONTACTS} AS contact JOIN roots ON contact.id = roots.id
    WHERE contact.deleted_at IS NULL
    UNION
    SELECT contact.id, contact.email, contact.phone_number, contact.linked_id, contact.created_at
    FROM {_CONTACTS} AS contact JOIN roots ON contact.linked_id = roots.id
    WHERE contact.deleted_at IS NULL
"""


def cluster_rows(*, email: str | None, phone_number: str | None) -> list[ContactRow]:
    """Every live contact of every cluster that holds the email or the phone number, oldest first.

    One SQL statement, whatever the size of the clusters; plain rows, no model instances.
    """
    query = f"WITH roots AS ({CLUSTER_ROOTS_SQL}) {CLUSTER_MEMBERS_SQL} ORDER BY 5, 1"
    with connection.cursor() as cursor:
        cursor.execute(query, {"email": email, "phone_number": phone_number})
        rows = cursor.fetchall()
    if connection.vendor == "sqlite":
        # Raw SQLite rows carry naive datetimes, in the connection's time zone (UTC).
        return [ContactRow(*row[:4], make_aware(row[4], connection.timezone)) for row in rows]
    return [ContactRow(*row) for row in rows]
