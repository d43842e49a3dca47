"""Rate limits counted per API key when the request has one, per client address otherwise."""

from typing import TYPE_CHECKING

from rest_framework.throttling import ScopedRateThrottle

from contacts.client_address import client_address

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView


class PerClientRateThrottle(ScopedRateThrottle):
    def get_cache_key(self, request: "Request", view: "APIView") -> str:
        ident = (
            f"key-{request.auth.prefix}" if request.auth is not None else client_address(request)
        )
        return self.cache_format % {"scope": self.scope, "ident": ident}
