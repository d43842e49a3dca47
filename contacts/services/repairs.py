"""Repairs of stored clusters (``reconcile``, the admin's "Re-run reconciliation", imports):
bring stored values to canonical form, and recompute clusters from stored rows.

Each is one transaction under the same locks as ``/identify/`` (``services.relinking``,
docs/concurrency.md).
"""

from collections.abc import Iterable

from django.contrib.auth.base_user import AbstractBaseUser

from contacts.models import EventKind, Source
from contacts.services.relinking import Correction, ReconcileResult, correction_run


def identifiers_canonicalize(
    *,
    contact_ids: Iterable[int],
    user: AbstractBaseUser | None = None,
    source: Source = Source.COMMAND,
) -> ReconcileResult:
    """Bring these contacts' stored values, and the link records around them, to the canonical
    form ``contacts.normalize`` gives new values; merge the clusters that now share one.

    For rows stored before a normalization rule existed (or before ``PHONE_DEFAULT_REGION``
    changed): one transaction under the locks of any correction, one history event per changed
    contact (its values before and after) and one per merge.
    """
    correction = Correction(kind=EventKind.CANONICALIZED)
    return correction_run(
        contact_ids=list(contact_ids), correction=correction, user=user, source=source
    )


def clusters_reconcile(
    *,
    contact_ids: Iterable[int],
    user: AbstractBaseUser | None = None,
    source: Source = Source.ADMIN,
) -> ReconcileResult:
    """Recompute the clusters of these contacts from stored rows; fix every link that differs."""
    return correction_run(contact_ids=list(contact_ids), correction=None, user=user, source=source)
