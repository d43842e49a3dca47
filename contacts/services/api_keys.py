"""API keys: made (the key shown once), revoked, and their last use recorded."""

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import Q
from django.db.models.functions import Now

from contacts.models import ApiKey, Scope

# ``last_used_at`` is written at most this often per key, so that no request writes it.
LAST_USE_RESOLUTION = timedelta(minutes=1)


def api_key_create(
    *, name: str, scopes: Iterable[Scope], expiry_date: datetime | None = None
) -> tuple[ApiKey, str]:
    """Make a key; returns its row and the key itself, which is stored only as a hash."""
    scopes = sorted({Scope(scope) for scope in scopes})
    if not scopes:
        raise ValueError("An API key needs at least one scope.")
    return ApiKey.objects.create_key(name=name, scopes=scopes, expiry_date=expiry_date)


def api_key_revoke(*, api_key_id: str) -> None:
    """Revoke a key for good (it cannot be undone)."""
    ApiKey.objects.filter(id=api_key_id).update(revoked=True)


def api_key_record_use(*, api_key_id: str) -> None:
    """Set ``last_used_at`` to now unless it was set within ``LAST_USE_RESOLUTION``: one
    conditional statement, so that any number of processes write the row at most once a
    minute."""
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=Now() - LAST_USE_RESOLUTION)
    ApiKey.objects.filter(stale, id=api_key_id).update(last_used_at=Now())
