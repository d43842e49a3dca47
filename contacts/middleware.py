"""Middleware of the service: the per-request log line, and routes served ahead of the stack:
health checks for any host, and the JSON API without the admin's session middleware."""

import logging
import time
from collections.abc import Callable, Iterator

from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve, reverse

from contacts.request_log import REQUEST_ID_HEADER, request_context, request_id_from

logger = logging.getLogger("contacts.requests")


class RequestLogMiddleware:
    """Give every request an id (the client's ``X-Request-ID`` when acceptable) and log one line.

    The line holds the request id, method, path, status and latency in milliseconds, plus what the
    view added with ``contacts.request_log.annotate_request``. The id is sent back in
    ``X-Request-ID`` so that a client can quote it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_from(incoming=request.headers.get(REQUEST_ID_HEADER))
        started = time.perf_counter()
        with request_context(request_id=request_id) as context:
            response = self.get_response(request)
            latency_ms = round((time.perf_counter() - started) * 1000, 2)
            logger.log(
                logging.ERROR if response.status_code >= 500 else logging.INFO,
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "latency_ms": latency_ms,
                    **context.fields,
                },
            )
        response[REQUEST_ID_HEADER] = request_id
        return response


class ShortcutMiddleware:
    """Serve the views named in ``url_names`` directly, without the middleware below this one.

    Every other request goes on down the stack. Exceptions still reach Django's handler, which
    answers them with the project's JSON error pages.
    """

    url_names: tuple[str, ...] = ()

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.paths = frozenset(_paths_of(self.url_names))

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info not in self.paths:
            return self.get_response(request)
        match = resolve(request.path_info)
        request.resolver_match = match
        response = match.func(request, *match.args, **match.kwargs)
        # Django's handler renders DRF's responses after the middleware; this one bypasses it.
        return response.render()


def _paths_of(url_names: tuple[str, ...]) -> Iterator[str]:
    """The paths that resolve to ``url_names``, with and without a trailing slash where the
    pattern accepts both (``reverse`` gives only one)."""
    for name in url_names:
        bare = reverse(name).rstrip("/")
        for candidate in (bare, f"{bare}/"):
            try:
                if resolve(candidate).url_name == name:
                    yield candidate
            except Resolver404:
                continue


class HealthCheckMiddleware(ShortcutMiddleware):
    """Answer ``/health/`` and ``/health/ready/`` before anything validates the ``Host`` header.

    Platform probes call the service by an address or a host name of their own, which
    ``ALLOWED_HOSTS`` would reject with ``400``, and over plain HTTP, which the HTTPS redirect would
    answer with ``301``. The health views read nothing from the host, so they are safe to serve
    for any host.
    """

    url_names = ("health", "health-ready")


class ApiMiddleware(ShortcutMiddleware):
    """Answer ``POST /identify/`` without the sessions, CSRF, authentication, messages, framing and
    lockout middleware that only the admin needs.

    Placed after the security, static files and common middleware, so the API keeps the HTTPS
    redirect, the security headers and the ``Host`` check. Skipping the rest saves about a tenth
    of the app's instructions per lookup (bench/RESULTS.md); ``IdentifyView`` reads no session or
    user.
    """

    url_names = ("identify",)
