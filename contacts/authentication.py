"""Who is calling: the API key in ``Authorization: Api-Key <key>`` (docs/api.md, "Access").

Verifying a key costs a read of its row and a SHA-512 hash. Each process keeps what it verified
for ``API_KEY_CACHE_SECONDS``, so that a request costs no extra round trip to the database; a
revoked key therefore keeps working on a process for at most that long. Expiry is checked on
every request.
"""

import hashlib
import threading
import time

from django.conf import settings
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request
from rest_framework_api_key.permissions import KeyParser

from contacts.permissions import INVALID_API_KEY
from contacts.request_log import annotate_request
from contacts.selectors.api_keys import Caller, caller_for_key
from contacts.services.api_keys import LAST_USE_RESOLUTION, api_key_record_use

# Beyond this many keys (most of them unknown, sent by someone guessing) a process forgets all.
_MAX_REMEMBERED = 1024


class _VerifiedKeys:
    """Per process: the callers verified lately, by a digest of their key, and when each key's
    use was last recorded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callers: dict[str, tuple[float, Caller | None]] = {}
        self._recorded: dict[str, float] = {}

    def caller(self, key: str) -> Caller | None:
        digest = hashlib.sha256(key.encode()).hexdigest()
        now = time.monotonic()
        remembered = self._callers.get(digest)
        if remembered is not None and now - remembered[0] < settings.API_KEY_CACHE_SECONDS:
            return remembered[1]
        caller = caller_for_key(key=key)
        with self._lock:
            if len(self._callers) >= _MAX_REMEMBERED:
                self._callers.clear()
            self._callers[digest] = (now, caller)
        return caller

    def due_for_recording(self, caller: Caller) -> bool:
        now = time.monotonic()
        with self._lock:
            last = self._recorded.get(caller.id)
            if last is not None and now - last < LAST_USE_RESOLUTION.total_seconds():
                return False
            self._recorded[caller.id] = now
            return True

    def forget(self) -> None:
        with self._lock:
            self._callers.clear()
            self._recorded.clear()


verified_keys = _VerifiedKeys()


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Api-Key <key>``; ``request.auth`` becomes the key's ``Caller``.

    No header: anonymous, and the permission (``contacts.permissions``) decides. A header with a
    key that is unknown, revoked or expired: ``401``, whether or not keys are required.
    """

    keyword = KeyParser.keyword
    key_parser = KeyParser()

    def authenticate(self, request: Request) -> tuple[None, Caller] | None:
        key = self.key_parser.get(request)
        if key is None:
            return None
        caller = verified_keys.caller(key.strip())
        if caller is None or caller.has_expired(now=timezone.now()):
            raise exceptions.AuthenticationFailed(**INVALID_API_KEY)
        if verified_keys.due_for_recording(caller):
            api_key_record_use(api_key_id=caller.id)
        annotate_request(api_key=caller.name, api_key_prefix=caller.prefix)
        return None, caller

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
