"""Reads for the data-quality report (docs/governance.md): how big the identities are, which
identifiers the most contacts share — the candidates to block — and how many writes the
supercluster guard holds."""

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import Count
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from contacts.models import Contact, HeldMerge, HeldMergeStatus

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


@dataclass(frozen=True)
class HeldDay:
    day: date
    held: int
    """Held merges first seen that day (one per email and phone number pair)."""


def held_merges_by_day(*, days: int) -> list[HeldDay]:
    """Held merges first seen on each of the last ``days`` days, today included, oldest first;
    a day with none is listed with 0. Days are those of the site's time zone."""
    start = timezone.localdate() - timedelta(days=days - 1)
    counted = dict(
        HeldMerge.objects.filter(first_seen_at__date__gte=start)
        .annotate(day=TruncDate("first_seen_at"))
        .values("day")
        .annotate(held=Count("id"))
        .values_list("day", "held")
        .order_by()
    )
    every_day = (start + timedelta(days=offset) for offset in range(days))
    return [HeldDay(day=day, held=counted.get(day, 0)) for day in every_day]


def held_merges_pending() -> int:
    """Held merges waiting for a person's decision."""
    return HeldMerge.objects.filter(status=HeldMergeStatus.PENDING).count()
