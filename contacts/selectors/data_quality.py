"""Reads for the data-quality report (docs/governance.md): how big the identities are, and which
identifiers the most contacts share — the candidates to block."""

from collections import Counter
from dataclasses import dataclass

from django.db.models import Count
from django.db.models.functions import Coalesce

from contacts.models import Contact

# Upper bounds of the cluster-size buckets: 1, 2, 3-5, 6-10, … and one open bucket past the last.
SIZE_BUCKET_BOUNDS = (1, 2, 5, 10, 20, 50, 100, 1000)
IDENTIFIER_FIELDS = {"email": "email", "phone": "phone_number"}


@dataclass(frozen=True)
class SizeBucket:
    """Clusters whose live contacts number from ``smallest`` to ``largest`` (``None``: no bound)."""

    smallest: int
    largest: int | None
    clusters: int
    contacts: int

    @property
    def label(self) -> str:
        """``1``, ``3-5`` or ``1001+``."""
        if self.largest is None:
            return f"{self.smallest}+"
        if self.largest == self.smallest:
            return str(self.smallest)
        return f"{self.smallest}-{self.largest}"


@dataclass(frozen=True)
class SharedIdentifier:
    kind: str
    value: str
    contacts: int


def cluster_size_histogram(*, chunk_size: int = 20_000) -> list[SizeBucket]:
    """Every bucket of ``SIZE_BUCKET_BOUNDS``, counting the clusters of live contacts by size.

    One grouped read streamed in chunks; the buckets are counted here, in the same way on
    PostgreSQL and SQLite.
    """
    sizes = Counter(
        Contact.live.annotate(root=Coalesce("linked_id", "id"))
        .values("root")
        .annotate(size=Count("id"))
        .values_list("size", flat=True)
        .order_by()
        .iterator(chunk_size=chunk_size)
    )
    buckets = []
    smallest = 1
    for largest in (*SIZE_BUCKET_BOUNDS, None):
        inside = {
            size: count
            for size, count in sizes.items()
            if size >= smallest and (largest is None or size <= largest)
        }
        buckets.append(
            SizeBucket(
                smallest=smallest,
                largest=largest,
                clusters=sum(inside.values()),
                contacts=sum(size * count for size, count in inside.items()),
            )
        )
        smallest = (largest or 0) + 1
    return buckets


def most_shared_identifiers(*, kind: str, limit: int) -> list[SharedIdentifier]:
    """The ``limit`` emails (``kind="email"``) or phone numbers (``"phone"``) carried by the most
    live contacts, at least two, most shared first (ties by value)."""
    field = IDENTIFIER_FIELDS[kind]
    rows = (
        Contact.live.filter(**{f"{field}__isnull": False})
        .values(field)
        .annotate(contacts=Count("id"))
        .filter(contacts__gt=1)
        .order_by("-contacts", field)
        .values_list(field, "contacts")[:limit]
    )
    return [SharedIdentifier(kind=kind, value=value, contacts=count) for value, count in rows]
