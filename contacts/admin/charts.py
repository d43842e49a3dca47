"""Charts of the admin's pages, drawn as SVG on the server: no script, no library from a CDN, and
nothing the Content-Security-Policy has to allow (docs/admin.md, "Security headers")."""

import math
from dataclasses import dataclass

from contacts.selectors.data_quality import SizeBucket

# The widest bar, in SVG user units, and the room for the size labels on its left.
BAR_SPACE = 400
LABEL_SPACE = 100


@dataclass(frozen=True)
class Bar:
    label: str
    clusters: int
    contacts: int
    width: int
    y: int
    """The bar's top, in SVG user units: one row per bucket."""


@dataclass(frozen=True)
class SizeChart:
    bars: list[Bar]
    width: int
    height: int


def size_chart(*, buckets: list[SizeBucket], row_height: int = 28) -> SizeChart:
    """One bar per bucket, its length the logarithm of its number of identities: tens of thousands
    of single contacts and one supercluster must both be visible on one chart."""
    largest = max((bucket.clusters for bucket in buckets), default=0)
    scale = BAR_SPACE / math.log10(largest + 1) if largest else 0
    bars = [
        Bar(
            label=bucket.label,
            clusters=bucket.clusters,
            contacts=bucket.contacts,
            width=round(math.log10(bucket.clusters + 1) * scale),
            y=index * row_height,
        )
        for index, bucket in enumerate(buckets)
    ]
    return SizeChart(bars=bars, width=LABEL_SPACE + BAR_SPACE + 120, height=len(bars) * row_height)
