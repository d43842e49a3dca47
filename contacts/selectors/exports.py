"""The export of everything the service holds about a person (docs/privacy.md).

The export finds the person as an identity's erasure would (``erasure_targets``), so that "what
you hold about me" and "delete what you hold about me" cover the same contacts and values.
"""

from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from contacts.models import ClusterEvent, Contact, ErasureScope
from contacts.rules import scrub
from contacts.selectors.governance import current_policy, governance_token
from contacts.selectors.privacy import (
    ErasureSubject,
    erasure_targets,
    events_carrying,
    held_merges_carrying,
    link_records_carrying,
)


def person_export(
    *, email: str | None = None, phone_number: str | None = None, contact_id: int | None = None
) -> dict:
    """Everything held about the person one canonical value or contact id names, as one
    JSON-able document: the identity's contacts (live or soft-deleted), the link records and held
    merges carrying its values, and the history about its contacts or mentioning its values.

    A value no contact carries gives empty lists; an unknown contact id raises
    ``IdentityNotFound``.
    """
    subject = ErasureSubject(
        scope=ErasureScope.IDENTITY, email=email, phone_number=phone_number, contact_id=contact_id
    )
    targets = erasure_targets(
        subject=subject, blocklist=current_policy(token=governance_token()).blocklist
    )
    ids = targets.contact_ids
    texts = frozenset(value for _, value in targets.values)
    # The history's text search matches any text containing a value; only events that really
    # mention one (those an erasure would scrub) are the person's.
    mentioning = [
        event.id
        for event in events_carrying(contact_ids=[], values=targets.values)
        if scrub(event.details, texts=texts) != event.details
    ]
    events = ClusterEvent.objects.filter(
        Q(contact_id__in=ids) | Q(primary_id__in=ids) | Q(id__in=mentioning)
    )
    return {
        "exportedAt": _when(timezone.now()),
        "contacts": [
            {
                "id": contact.id,
                "email": contact.email,
                "phoneNumber": contact.phone_number,
                "linkedId": contact.linked_id,
                "linkPrecedence": contact.link_precedence,
                "createdAt": _when(contact.created_at),
                "updatedAt": _when(contact.updated_at),
                "deletedAt": _when(contact.deleted_at),
            }
            for contact in Contact.objects.filter(id__in=ids).order_by("id")
        ],
        "linkRecords": [
            {
                "id": link.id,
                "email": link.email,
                "phoneNumber": link.phone_number,
                "source": link.source,
                "createdAt": _when(link.created_at),
            }
            for link in link_records_carrying(values=targets.values).order_by("id")
        ],
        "history": [
            {
                "id": event.id,
                "kind": event.kind,
                "source": event.source,
                "contactId": event.contact_id,
                "primaryId": event.primary_id,
                "details": event.details,
                "createdAt": _when(event.created_at),
            }
            for event in events.order_by("id")
        ],
        "heldMerges": [
            {
                "id": held.id,
                "email": held.email,
                "phoneNumber": held.phone_number,
                "kind": held.kind,
                "status": held.status,
                "firstSeenAt": _when(held.first_seen_at),
                "lastSeenAt": _when(held.last_seen_at),
                "occurrences": held.occurrences,
            }
            for held in held_merges_carrying(values=targets.values).order_by("id")
        ],
    }


def _when(moment: datetime | None) -> str | None:
    """ISO 8601, UTC as ``Z``: as the API writes every other time."""
    if moment is None:
        return None
    text = moment.isoformat()
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text
