"""The history of clusters as sentences with full timestamps, for the cluster page and the history
admin: "An order with email … and phone … made #12 a secondary of #7", "2026-11-30 18:39:07 UTC".

Each event kind reads its ``details`` as the services write them (``contacts.db``,
``contacts.services``). An erasure replaces the values in the details of its contacts' events by
``None`` (docs/privacy.md); such a value reads ``[erased]``, as in the admin log, and nothing here
logs what it renders.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from contacts.models import ClusterEvent, EventKind, HeldMergeKind, HeldMergeStatus, Source
from contacts.rules.erasure import ERASED

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S %Z"
"""Seconds and the zone's name: every event of one minute is told apart, and nobody has to guess
in which zone the site's clock runs."""

_FIELDS = {"email": "email", "phone_number": "phone"}
_BRIDGED_BY = {"email": "email", "phoneNumber": "phone"}


def timestamp(value: datetime) -> SafeString:
    """``value`` in the site's time zone (``TIME_ZONE``), to the second, in a ``<time>``."""
    local = timezone.localtime(value)
    return format_html(
        '<time datetime="{}">{}</time>',
        local.isoformat(timespec="seconds"),
        local.strftime(TIMESTAMP_FORMAT),
    )


@dataclass(frozen=True)
class HistoryEntry:
    event: ClusterEvent
    when: SafeString
    sentence: SafeString


def history_entries(*, events: Iterable[ClusterEvent]) -> list[HistoryEntry]:
    """One entry per event; the erased contacts are those an ``erased`` event of ``events`` names,
    so the whole history of a cluster is read once."""
    events = list(events)
    erased_ids = {event.contact_id for event in events if event.kind == EventKind.ERASED}
    return [
        HistoryEntry(
            event=event,
            when=timestamp(event.created_at),
            sentence=event_sentence(event, erased=event.contact_id in erased_ids),
        )
        for event in events
    ]


def event_sentence(event: ClusterEvent, *, erased: bool = False) -> SafeString:
    """What ``event`` did, as one sentence with its contacts linked. ``erased``: its contact has
    been erased since, so the values missing from its details were erased, not absent."""
    return _SENTENCES[EventKind(event.kind)](_Told(event=event, erased=erased))


@dataclass(frozen=True)
class _Told:
    """An event and how to tell its parts."""

    event: ClusterEvent
    erased: bool

    @property
    def details(self) -> dict[str, Any]:
        return self.event.details if isinstance(self.event.details, dict) else {}

    def contact(self, contact_id: int) -> SafeString:
        """``#7``, linked to the contact's page; an erased contact has no page left."""
        if self.erased and contact_id == self.event.contact_id:
            return format_html("#{}", contact_id)
        url = reverse("admin:contacts_contact_change", args=[contact_id])
        return format_html('<a href="{}">#{}</a>', url, contact_id)

    def contacts(self, contact_ids: Iterable[int]) -> SafeString:
        """``#1, #2 and #3``."""
        linked = [self.contact(contact_id) for contact_id in contact_ids]
        if len(linked) < 2:
            return linked[0] if linked else mark_safe("none")
        return format_html("{} and {}", mark_safe(", ".join(linked[:-1])), linked[-1])

    def actor(self) -> SafeString:
        """Who or what made the change: the order (with its values), the staff user, the
        command."""
        event, details = self.event, self.details
        if event.source == Source.ADMIN:
            return format_html("Support ({})", event.user) if event.user else mark_safe("Support")
        if event.source == Source.COMMAND:
            if details.get("import"):
                return format_html("The import “{}”", details["import"])
            return mark_safe("A management command")
        request = details.get("request")
        return self.order(request) if isinstance(request, dict) else mark_safe("A request")

    def order(self, request: dict[str, Any]) -> SafeString:
        """The request's values; a value missing from a request that had both (a merge's) or
        from an erased contact's reads ``[erased]``."""
        values = [(_FIELDS[field], request.get(field)) for field in _FIELDS]
        if self.erased and not any(value for _, value in values):
            return mark_safe("An order whose identifiers were erased")
        both = self.event.kind == EventKind.MERGED
        shown = [
            format_html("{} <strong>{}</strong>", name, value or ERASED)
            for name, value in values
            if value or both
        ]
        if not shown:
            return mark_safe("An order")
        # An erased contact's request may have had a value that is gone now, or not: both read.
        partly_erased = self.erased and len(shown) < len(values)
        return format_html(
            "An order with {}{}",
            mark_safe(" and ".join(shown)),
            " (any other identifier erased)" if partly_erased else "",
        )

    def value(self, value: object) -> str:
        if value is None:
            return ERASED if self.erased else "none"
        return str(value)

    def changes(self) -> SafeString:
        """``email a@x → b@x and phone 111 → 222``: the fields whose value changed."""
        changed = [
            format_html(
                "{} <strong>{}</strong> → <strong>{}</strong>",
                name,
                self.value(pair[0]),
                self.value(pair[1]),
            )
            for field, name in _FIELDS.items()
            if isinstance(pair := self.details.get(field), list)
            and len(pair) == 2
            and (pair[0] != pair[1] or (pair[0] is None and self.erased))
        ]
        return mark_safe(" and ".join(changed))

    def reason(self) -> SafeString:
        reason = self.details.get("reason")
        return format_html(" Reason: {}.", reason) if reason else mark_safe("")


def _created(told: _Told) -> SafeString:
    event, members = told.event, told.details.get("contacts") or []
    if len(members) > 1:
        return format_html(
            "{} created identity {} with {}.",
            told.actor(),
            told.contact(event.primary_id),
            told.contacts(members),
        )
    return format_html(
        "{} created {}, a new identity.", told.actor(), told.contact(event.contact_id)
    )


def _added(told: _Told) -> SafeString:
    event = told.event
    members = told.details.get("contacts") or [event.contact_id]
    return format_html(
        "{} added {} to identity {} as {}.",
        told.actor(),
        told.contacts(members),
        told.contact(event.primary_id),
        "secondaries" if len(members) > 1 else "a secondary",
    )


def _merged(told: _Told) -> SafeString:
    event, details = told.event, told.details
    if "loser" in details:
        bridged = details.get("bridged_by") or []
        if "link" in bridged:
            how = "a link record reached its identity"
        else:
            held = " and ".join(_BRIDGED_BY.get(kind, kind) for kind in bridged)
            how = f"its identity held the {held} of the order" if held else ""
        return format_html(
            "{} made {} a secondary of {}, merging their identities{}.",
            told.actor(),
            told.contact(details["loser"]),
            told.contact(details.get("winner", event.primary_id)),
            f" ({how})" if how else "",
        )
    merged = [i for i in details.get("previous_primaries", []) if i != event.primary_id]
    return format_html(
        "{} merged identit{} {} into {}; relinked {}.{}",
        told.actor(),
        "ies" if len(merged) > 1 else "y",
        told.contacts(merged),
        told.contact(event.primary_id),
        told.contacts(details.get("relinked", [])),
        told.reason(),
    )


def _relinked(verb: str) -> Callable[[_Told], SafeString]:
    def tell(told: _Told) -> SafeString:
        event, details = told.event, told.details
        return format_html(
            "{} {}{}; relinked {}.{}",
            told.actor(),
            format_html(verb, told.contact(event.primary_id)),
            format_html(" (before: {})", told.contacts(details["previous_primaries"]))
            if details.get("previous_primaries")
            else "",
            told.contacts(details.get("relinked", [])),
            told.reason(),
        )

    return tell


def _changed(verb: str, *, values: bool) -> Callable[[_Told], SafeString]:
    """``values``: the event changes values (an edit), rather than whether the contact is live."""

    def tell(told: _Told) -> SafeString:
        changes = told.changes() if values else ""
        return format_html(
            "{} {} {}{}.{}",
            told.actor(),
            verb,
            told.contact(told.event.contact_id),
            format_html(": {}", changes) if changes else "",
            told.reason(),
        )

    return tell


def _held(told: _Told) -> SafeString:
    event, details = told.event, told.details
    others = details.get("other_primaries") or []
    if details.get("hold") == HeldMergeKind.GROWTH:
        what = format_html("a new contact in identity {}", told.contact(event.primary_id))
    else:
        what = format_html(
            "a merge of identity {} with {}", told.contact(event.primary_id), told.contacts(others)
        )
    return format_html(
        "{} would have made {}, past its size limit: held merge #{} waits for a person.",
        told.actor(),
        what,
        details.get("held_merge", "?"),
    )


def _decided(told: _Told) -> SafeString:
    details = told.details
    decision = details.get("decision")
    verb = "approved" if decision == HeldMergeStatus.APPROVED else "rejected"
    return format_html(
        "{} {} held merge #{} of identity {}{}.",
        told.actor(),
        verb,
        details.get("held_merge", "?"),
        told.contact(told.event.primary_id),
        ", and said never to link that pair" if details.get("never_link") else "",
    )


def _erased(told: _Told) -> SafeString:
    return format_html(
        "{} erased {} from identity {}.{}",
        told.actor(),
        told.contact(told.event.contact_id),
        told.contact(told.event.primary_id),
        told.reason(),
    )


_SENTENCES: dict[EventKind, Callable[[_Told], SafeString]] = {
    EventKind.PRIMARY_CREATED: _created,
    EventKind.SECONDARY_ADDED: _added,
    EventKind.MERGED: _merged,
    EventKind.SPLIT: _relinked("split {} off as an identity of its own"),
    EventKind.REPAIRED: _relinked("repaired the links of identity {}"),
    EventKind.EDITED: _changed("edited", values=True),
    EventKind.DELETED: _changed("soft-deleted", values=False),
    EventKind.RESTORED: _changed("restored", values=False),
    EventKind.CANONICALIZED: _changed("rewrote in canonical form the identifiers of", values=True),
    EventKind.ERASED: _erased,
    EventKind.HELD: _held,
    EventKind.DECIDED: _decided,
}
