"""Middleware of the service: the per-request log line, health checks for any host, the request
body's cap, the Content-Security-Policy, the admin's refusal of NUL characters, and its reads
from the primary after a change. Django's sessions and messages made on first use are in
``contacts.lazy_middleware``."""

import io
import logging
import time
from collections.abc import Callable

from csp.constants import HEADER as CSP_HEADER
from csp.middleware import CSPMiddleware
from django.conf import settings
from django.core.exceptions import BadRequest, MiddlewareNotUsed
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse

from contacts import metrics
from contacts.db.routing import pin_to_primary, replica_configured
from contacts.errors import ADMIN_PREFIX, api_error_body
from contacts.parsers import PayloadTooLarge
from contacts.request_log import (
    REQUEST_ID_HEADER,
    REQUEST_ID_META_KEY,
    request_context,
    request_id_from,
)
from contacts.views.operations import LivenessView, ReadinessView

logger = logging.getLogger("contacts.requests")

# The admin's forms where DATA_UPLOAD_MAX_MEMORY_SIZE is None (no limit): Django's default.
MAX_ADMIN_BODY_BYTES = 2_621_440
JSON_CONTENT_TYPE = "application/json"
API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"


class RequestLogMiddleware:
    """Give every request an id (the client's ``X-Request-ID`` when acceptable) and log one line.

    The line holds the request id, method, path, status and latency in milliseconds, plus what the
    view added with ``contacts.request_log.annotate_request``. The id is sent back in
    ``X-Request-ID`` so that a client can quote it. The same figures go to the request metrics
    (``contacts.metrics``), with the threads busy meanwhile.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request_id_from(incoming=request.META.get(REQUEST_ID_META_KEY))
        started = time.perf_counter()
        with request_context(request_id=request_id) as context:
            with metrics.THREADS_BUSY.track_inprogress():
                response = self.get_response(request)
            seconds = time.perf_counter() - started
            latency_ms = round(seconds * 1000, 2)
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
            metrics.request_record(
                request=request, status=response.status_code, fields=context.fields, seconds=seconds
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


def body_cap(path: str) -> int:
    """The largest request body the service reads for ``path``: the API's ``API_MAX_BODY_BYTES``,
    Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` for the admin's forms. The threaded gunicorn worker
    holds a body in memory until it is whole and refuses a larger one before reading it
    (``bitespeed.gunicorn_worker``), so the admin's cap is finite even where Django's is not."""
    if path.startswith(ADMIN_PREFIX):
        return settings.DATA_UPLOAD_MAX_MEMORY_SIZE or MAX_ADMIN_BODY_BYTES
    return settings.API_MAX_BODY_BYTES


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's policy (``settings.CONTENT_SECURITY_POLICY``) on pages, static files and the
    schema; on the API's JSON answers, which no browser runs as a page, a fixed policy that
    allows nothing (OWASP's REST Security Cheat Sheet), set without building a policy per answer:
    django-csp builds two (the policy and the report-only one) for every response."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if response.get("Content-Type", "").startswith(JSON_CONTENT_TYPE):
            response.headers.setdefault(CSP_HEADER, API_CONTENT_SECURITY_POLICY)
            return response
        return super().process_response(request, response)


class BoundedBodyMiddleware:
    """The API's request bodies, whatever the framing, within ``API_MAX_BODY_BYTES``.

    A declared ``Content-Length`` over the cap is answered ``413`` before anything is read (reading
    it would hold a thread while the client sends, or claims to). A chunked body
    (``Transfer-Encoding: chunked``, no ``Content-Length``), which Django reads as empty, is read
    here up to the cap and handed on as a body of known length, so that the API parses it as any
    other. The admin's forms keep Django's own limits.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(ADMIN_PREFIX):
            return self.get_response(request)
        limit = body_cap(request.path_info)
        if _declared_length(request) > limit:
            return _too_large(limit)
        if _is_chunked(request):
            body = request.META["wsgi.input"].read(limit + 1)
            if len(body) > limit:
                return _too_large(limit)
            # Django has no public way to replace a request's stream; this is the one it reads.
            request.META["CONTENT_LENGTH"] = str(len(body))
            request._stream = LimitedStream(io.BytesIO(body), len(body))
        return self.get_response(request)


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _is_chunked(request: HttpRequest) -> bool:
    """A chunked body the server decoded and ended (gunicorn sets ``wsgi.input_terminated``)."""
    encoding = request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    return "chunked" in encoding and bool(request.META.get("wsgi.input_terminated"))


def _too_large(limit: int) -> HttpResponse:
    error = PayloadTooLarge(limit=limit)
    return JsonResponse(api_error_body(error), status=error.status_code)


class AdminNulMiddleware:
    """A NUL character in an admin page's path or query string is ``400``.

    PostgreSQL text cannot hold NUL, so an object id, list filter or search holding one would fail
    in the database as a ``500``; no valid admin URL contains one. (The API reads no query value
    into a statement: its cursors are decoded first, and its ids are digits.)
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(ADMIN_PREFIX):
            return self.get_response(request)
        if "\x00" in request.path or any(
            "\x00" in name or any("\x00" in value for value in values)
            for name, values in request.GET.lists()
        ):
            raise BadRequest("NUL character in the query string")
        return self.get_response(request)


class ReadYourWritesMiddleware:
    """After someone changes something in the admin, their pages read from the primary until the
    read replica must have the change (``contacts.db.routing.pin_to_primary``): a correction is on
    the cluster page it leads to. Not used without a replica."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        if not replica_configured():
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            request.method not in ("GET", "HEAD", "OPTIONS")
            and request.path.startswith(ADMIN_PREFIX)
            and response.status_code < 400
        ):
            pin_to_primary(response)
        return response
