"""Reads of contacts and clusters, shared by the API, the admin and the commands."""

from dataclasses import dataclass
from datetime import datetime

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


def cluster_rows(*, email: str | None, phone_number: str | None) -> list[ContactRow]:
    """Every live contact of every cluster that holds the email or the phone number, oldest first.

    One SQL statement, whatever the size of the clusters.
    """
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
