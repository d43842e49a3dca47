"""Reads of the pull feed of identity events (docs/events.md, "The pull feed").

The feed serves sequenced events (``OutboxEvent``) in id order. Their ids commit in that order
(one sequencer at a time numbers them), so a reader that resumes after an id never skips an event
that appears later. A position in the feed travels as an opaque cursor: clients pass back what
the feed gave them and never build one.
"""

import base64

from contacts.exceptions import InvalidCursor
from contacts.models import OutboxEvent
from contacts.normalize import parse_row_id

_CURSOR_PREFIX = "evt:"


def feed_cursor(*, event_id: int) -> str:
    """The cursor of the feed's position just after event ``event_id`` (0: the start)."""
    text = f"{_CURSOR_PREFIX}{event_id}".encode("ascii")
    return base64.urlsafe_b64encode(text).decode("ascii").rstrip("=")


def feed_position(*, cursor: str) -> int:
    """The event id a cursor stands after; ``InvalidCursor`` unless ``feed_cursor`` made it.

    Decoding alone would accept variants (other padding, characters base64 skips, leading
    zeros); the cursor must be exactly the one its position encodes to."""
    position = _decoded_position(cursor)
    if position is None or feed_cursor(event_id=position) != cursor:
        raise InvalidCursor()
    return position


def _decoded_position(cursor: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except ValueError:  # not base64 (binascii.Error), or not ASCII once decoded
        return None
    prefix, _, number = text.partition(":")
    return parse_row_id(number) if f"{prefix}:" == _CURSOR_PREFIX else None


def events_after(*, after: int, limit: int, types: list[str]) -> list[OutboxEvent]:
    """Up to ``limit`` sequenced events with an id above ``after``, in id order; only those of
    ``types`` when it names any."""
    events = OutboxEvent.objects.filter(id__gt=after)
    if types:
        events = events.filter(type__in=types)
    return list(events.order_by("id")[:limit])
