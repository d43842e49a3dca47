"""What an erasure removes besides the contacts (docs/privacy.md): the history events and admin
log entries carrying the erased values, scrubbed, and the link records, held merges and blocked
values to delete. Read for the dry run (``erasure_preview``) and, under the erasure's locks, for
its write (``person_erase``), which removes it."""

from dataclasses import dataclass

from django.contrib.admin.models import LogEntry
from django.db.models import QuerySet
from django.db.models.functions import Now

from contacts.models import ClusterEvent, ClusterLimit, Contact, LinkPrecedence
from contacts.rules import scrub, scrub_text
from contacts.selectors.privacy import (
    ErasureTargets,
    admin_log_carrying,
    blocked_entries_of,
    events_carrying,
    held_merges_carrying,
    link_records_carrying,
)


@dataclass(frozen=True)
class Footprint:
    """Everything an erasure removes besides the contacts, read for its targets: the events and
    admin log entries with their values already scrubbed, and the rows to delete."""

    targets: ErasureTargets
    events: list[ClusterEvent]
    log_entries: list[LogEntry]
    link_records: QuerySet
    held_merges: QuerySet
    blocked_values: QuerySet

    @property
    def counts(self) -> dict[str, int]:
        return {
            "contacts": len(self.targets.contact_ids),
            "link_records": self.link_records.count(),
            "held_merges": self.held_merges.count(),
            "blocked_values": self.blocked_values.count(),
            "history_events": len(self.events),
            "admin_log_entries": len(self.log_entries),
        }


def erasure_footprint(*, targets: ErasureTargets) -> Footprint:
    """The footprint of an erasure of ``targets``, its history and admin log scrubbed in memory."""
    erased_ids = targets.contact_ids
    texts = frozenset(value for _, value in targets.scrubbed)
    events = []
    for event in events_carrying(contact_ids=erased_ids, values=targets.scrubbed):
        details = scrub(event.details, texts=texts)
        if details != event.details:
            event.details = details
            events.append(event)
    log_entries = admin_log_carrying(contact_ids=erased_ids, values=targets.scrubbed)
    for entry in log_entries:
        entry.object_repr = scrub_text(entry.object_repr, texts=texts)
        entry.change_message = scrub_text(entry.change_message, texts=texts)
    return Footprint(
        targets=targets,
        events=events,
        log_entries=log_entries,
        link_records=link_records_carrying(values=targets.values),
        held_merges=held_merges_carrying(values=targets.values),
        blocked_values=blocked_entries_of(values=targets.values),
    )


def footprint_remove(*, footprint: Footprint) -> dict[str, int]:
    """Delete and scrub what ``footprint`` names, under the erasure's locks; the counts, as
    ``Footprint.counts`` names them (the deletions count their rows, no count is read first)."""
    erased_ids = footprint.targets.contact_ids
    ClusterEvent.objects.bulk_update(footprint.events, ["details"], batch_size=500)
    LogEntry.objects.bulk_update(
        footprint.log_entries, ["object_repr", "change_message"], batch_size=500
    )
    counts = {
        "contacts": len(erased_ids),
        "link_records": footprint.link_records.delete()[0],
        "held_merges": footprint.held_merges.delete()[0],
        "blocked_values": footprint.blocked_values.delete()[0],
        "history_events": len(footprint.events),
        "admin_log_entries": len(footprint.log_entries),
    }
    ClusterLimit.objects.filter(contact_id__in=erased_ids).delete()
    # Contacts still linked to an erased one are soft-deleted (a live one was re-linked by the
    # correction): each stands alone until it is restored, which links it again.
    Contact.objects.filter(linked_id__in=erased_ids).update(
        linked_id=None, link_precedence=LinkPrecedence.PRIMARY, updated_at=Now()
    )
    Contact.objects.filter(id__in=erased_ids).delete()
    return counts
