"""Middleware of the service: the per-request log line, and health checks for any host."""

import logging
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from contacts.request_log import REQUEST_ID_HEADER, request_context, request_id_from
from contacts.views import LivenessView, ReadinessView

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


class HealthCheckMiddleware:
    """Answer ``/health/`` and ``/health/ready/`` before anything validates the ``Host`` header.

    Platform probes call the service by an address or a host name of their own, which
    ``ALLOWED_HOSTS`` would reject with ``400``, and over plain HTTP, which the HTTPS redirect would
    answer with ``301``. The health views read nothing from the host, so they are safe to serve
    for any host. Placed above ``SecurityMiddleware`` and ``CommonMiddleware``, as the usual
    answer to this (django-lb-health-check, django-easy-health-check) is; it calls the two views
    itself, so that their answers stay the API's (JSON, the schema's shapes), and passes every
    other request on.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.views = {
            reverse("health"): LivenessView.as_view(),
            reverse("health-ready"): ReadinessView.as_view(),
        }

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = self.views.get(request.path_info)
        if view is None:
            return self.get_response(request)
        # Django's handler renders DRF's responses after the middleware; this one bypasses it.
        return view(request).render()
