"""The rows reconciliation works on: plain values read from the database, no ORM.

The pure rules (``contacts.rules``, ``contacts.explain``) take and return these, so that they can
be tested and re-run without a database; the selectors build them from query results.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from contacts.graph import identifier_nodes


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


@dataclass(frozen=True, slots=True)
class ContactState:
    """A contact as it is, deleted or not: what a correction starts from."""

    id: int
    email: str | None
    phone_number: str | None
    linked_id: int | None
    created_at: datetime
    deleted_at: datetime | None

    @property
    def root_id(self) -> int:
        return self.linked_id if self.linked_id is not None else self.id

    @property
    def nodes(self) -> list[tuple[str, str]]:
        return identifier_nodes(email=self.email, phone_number=self.phone_number)

    @property
    def row(self) -> ContactRow:
        """The contact as reconciliation sees it once it is live."""
        return ContactRow(self.id, self.email, self.phone_number, self.linked_id, self.created_at)
