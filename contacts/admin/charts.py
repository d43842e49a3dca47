"""Charts of the admin's pages, drawn as SVG on the server: no script, no library from a CDN, and
nothing the Content-Security-Policy has to allow (docs/admin.md, "Security headers")."""

import math
from dataclasses import dataclass
from datetime import date

from contacts.selectors.data_quality import HeldDay, SizeBucket

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


@dataclass(frozen=True)
class DayBar:
    day: date
    held: int
    x: int
    y: int
    height: int


@dataclass(frozen=True)
class DayChart:
    bars: list[DayBar]
    largest: int
    width: int
    height: int
    bar_width: int
    baseline: int
    """Where the bars stand, in SVG user units; the dates are written beneath."""


def held_merges_chart(
    *, days: list[HeldDay], column_width: int = 16, bars_height: int = 100, margin: int = 20
) -> DayChart:
    """One column per day, its height proportional to the held merges first seen that day, drawn
    as SVG on the server like ``size_chart``."""
    largest = max((day.held for day in days), default=0)
    baseline = margin + bars_height
    bars = []
    for index, day in enumerate(days):
        height = round(day.held * bars_height / largest) if largest else 0
        bars.append(
            DayBar(
                day=day.day,
                held=day.held,
                x=index * column_width,
                y=baseline - height,
                height=height,
            )
        )
    return DayChart(
        bars=bars,
        largest=largest,
        width=max(len(days) * column_width, 200),
        height=baseline + margin,
        bar_width=column_width - 2,
        baseline=baseline,
    )
