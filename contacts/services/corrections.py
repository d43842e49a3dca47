"""The support staff's corrections (SPEC §7): edit a contact, soft-delete contacts, restore them.

Each is one transaction under the same locks as ``/identify/`` (``services.relinking``,
docs/concurrency.md), which re-forms the clusters around the contacts it changes.
"""

from collections.abc import Iterable

from django.contrib.auth.base_user import AbstractBaseUser

from contacts.exceptions import CorrectionError
from contacts.models import EventKind, Source
from contacts.services.relinking import Correction, ReconcileResult, correction_run


def contact_edit(
    *,
    contact_id: int,
    email: str | None,
    phone_number: str | None,
    user: AbstractBaseUser | None = None,
    source: Source = Source.ADMIN,
) -> ReconcileResult:
    """Change a contact's email and phone number (already normalized), then reconcile around it.

    The edit may join clusters (the contact now shares an identifier with another cluster) or split
    its own (it no longer carries the identifier that held its cluster together).
    """
    if email is None and phone_number is None:
        raise CorrectionError("A contact needs an email or a phone number.")
    correction = Correction(kind=EventKind.EDITED, email=email, phone_number=phone_number)
    return correction_run(contact_ids=[contact_id], correction=correction, user=user, source=source)


def contacts_soft_delete(
    *,
    contact_ids: Iterable[int],
    user: AbstractBaseUser | None = None,
    source: Source = Source.ADMIN,
) -> ReconcileResult:
    """Soft-delete contacts, all in one transaction; the clusters they held together split, each
    led by its oldest live contact. Contacts already soft-deleted are left as they are."""
    correction = Correction(kind=EventKind.DELETED, deleted=True)
    return correction_run(
        contact_ids=list(contact_ids), correction=correction, user=user, source=source
    )


def contacts_restore(
    *,
    contact_ids: Iterable[int],
    user: AbstractBaseUser | None = None,
    source: Source = Source.ADMIN,
) -> ReconcileResult:
    """Bring soft-deleted contacts back, all in one transaction; they rejoin (and may merge) the
    clusters they link. Live contacts are left as they are."""
    correction = Correction(kind=EventKind.RESTORED, deleted=False)
    return correction_run(
        contact_ids=list(contact_ids), correction=correction, user=user, source=source
    )
