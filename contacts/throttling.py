"""Rate limits counted per API key when the request has one, per client address otherwise.

Each client's count for the current window is one cache counter, incremented atomically
(``INCR`` in Redis, a lock in process memory), created by the window's first request (an atomic
add, which one of several racing first requests wins) and expiring with its window: DRF's own
throttles read a list, append and write it back, so concurrent requests can all pass. With
``REDIS_URL`` the counters are shared by every worker and machine; without it each worker process
counts alone and allows its share of the limit (the limit divided by ``WEB_CONCURRENCY``), so that
one machine never exceeds it.
"""

from typing import TYPE_CHECKING

from django.conf import settings
from rest_framework.throttling import ScopedRateThrottle

from contacts.client_address import client_address

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView


class PerClientRateThrottle(ScopedRateThrottle):
    wait_seconds: float = 0.0

    def get_cache_key(self, request: "Request", view: "APIView") -> str:
        ident = (
            f"key-{request.auth.prefix}" if request.auth is not None else client_address(request)
        )
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request: "Request", view: "APIView") -> bool:
        self.scope = getattr(view, self.scope_attr, None)
        self.rate = self.get_rate() if self.scope else None
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        now = self.timer()
        window = int(now // self.duration)
        key = f"{self.get_cache_key(request, view)}:{window}"
        count = self._count(key=key, timeout=self.duration + 1)
        self.wait_seconds = (window + 1) * self.duration - now
        return count <= self.allowed_per_counter()

    def _count(self, *, key: str, timeout: int) -> int:
        """Count a request in the window's counter, creating it (with its expiry) for the
        window's first request: one increment for every other request."""
        cache = self.cache
        while True:
            try:
                return cache.incr(key)
            except ValueError:  # the window's first request: no counter yet
                if cache.add(key, 1, timeout=timeout):
                    return 1

    def allowed_per_counter(self) -> int:
        """The whole limit on a shared Redis; a worker's share of it in process memory."""
        if settings.REDIS_URL:
            return self.num_requests
        return max(1, self.num_requests // settings.WEB_CONCURRENCY)

    def wait(self) -> float:
        return self.wait_seconds
