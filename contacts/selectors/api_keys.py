"""Reads of API keys: the key a client sent, as the request will see it."""

from dataclasses import dataclass
from datetime import datetime

from contacts.models import ApiKey, Scope


@dataclass(frozen=True)
class Caller:
    """A verified API key: who is calling and what it may do (``request.auth``).

    Holds no secret: the key itself is never kept, only its row's id, name and prefix.
    """

    id: str
    name: str
    prefix: str
    scopes: frozenset[str]
    expiry_date: datetime | None

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes or (scope is Scope.LOOKUP and Scope.IDENTIFY in self.scopes)

    def has_expired(self, *, now: datetime) -> bool:
        return self.expiry_date is not None and self.expiry_date <= now


def caller_for_key(*, key: str) -> Caller | None:
    """The unrevoked key whose hash matches ``key`` (expired or not), else ``None``."""
    try:
        api_key = ApiKey.objects.get_from_key(key)
    except ApiKey.DoesNotExist:
        return None
    return Caller(
        id=api_key.id,
        name=api_key.name,
        prefix=api_key.prefix,
        scopes=frozenset(api_key.scopes),
        expiry_date=api_key.expiry_date,
    )
