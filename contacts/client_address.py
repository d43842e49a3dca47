"""Who the client is, by address, behind ``NUM_PROXIES`` proxies: one answer for the API's rate
limit and the admin's login lockout."""

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str | None:
    """``REMOTE_ADDR``; behind ``NUM_PROXIES`` proxies, the ``X-Forwarded-For`` entry that many from
    the end — the address the outermost trusted proxy saw. Entries further left are the client's
    own claim and are ignored. (DRF's throttles take the address this way.)"""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    proxies = settings.NUM_PROXIES
    if proxies and forwarded:
        addresses = [address.strip() for address in forwarded.split(",") if address.strip()]
        if addresses:
            return addresses[-min(proxies, len(addresses))]
    return request.META.get("REMOTE_ADDR")
