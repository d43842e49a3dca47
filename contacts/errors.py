"""One error shape for the whole API: ``{"detail": str, "code": str, "errors"?: {field: [str]}}``.

DRF's exceptions are reshaped by ``api_exception_handler``; errors raised outside DRF views (unknown
URLs, crashes) by the ``handler*`` views that ``bitespeed.urls`` installs. Pages of the admin keep
Django's HTML error pages.
"""

import logging

from django.core.exceptions import DisallowedHost
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse, UnreadablePostError
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from contacts.locking import LocksChanged, SQLState, sqlstate
from contacts.request_log import annotate_request

logger = logging.getLogger(__name__)

ADMIN_PREFIX = "/admin/"
RETRY_AFTER_SECONDS = 1


def error_body(*, detail: str, code: str, errors: dict | None = None) -> dict:
    body: dict = {"detail": detail, "code": code}
    if errors is not None:
        body["errors"] = errors
    return body


def _validation_body(error: exceptions.ValidationError) -> dict:
    detail = error.detail if isinstance(error.detail, dict) else {"non_field_errors": error.detail}
    errors = {field: [str(message) for message in messages] for field, messages in detail.items()}
    summary = "; ".join(
        f"{field}: {' '.join(messages)}" if field != "non_field_errors" else " ".join(messages)
        for field, messages in errors.items()
    )
    return error_body(detail=summary, code="invalid", errors=errors)


# Why a request answered 503, for its log line: PostgreSQL's SQLSTATE where there is one.
_UNAVAILABLE_REASONS = {
    SQLState.LOCK_NOT_AVAILABLE: "lock_timeout",
    SQLState.QUERY_CANCELED: "statement_timeout",
    SQLState.DEADLOCK_DETECTED: "deadlock_retries_exhausted",
    SQLState.SERIALIZATION_FAILURE: "serialization_retries_exhausted",
}


def _unavailable_reason(exc: Exception) -> str:
    if isinstance(exc, LocksChanged):
        return "lock_retries_exhausted"
    code = sqlstate(exc)
    return _UNAVAILABLE_REASONS.get(code, "database_unreachable" if code is None else code)


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler with every body in the one error shape, and busy databases as ``503``."""
    if isinstance(exc, (OperationalError, InterfaceError, LocksChanged)):
        reason = _unavailable_reason(exc)
        annotate_request(outcome="unavailable", reason=reason)
        logger.exception("database unavailable (%s) for %s", reason, context["request"].path)
        return Response(
            error_body(
                detail="The database is busy or unreachable; retry shortly.", code="unavailable"
            ),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, UnreadablePostError):
        # The body stopped arriving: the server's read timeout (bitespeed/gunicorn_worker.py).
        return Response(
            error_body(detail="The request body did not arrive in time.", code="request_timeout"),
            status=status.HTTP_408_REQUEST_TIMEOUT,
        )
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        annotate_request(outcome="rejected")
        response.data = _validation_body(exc)
    elif isinstance(exc, exceptions.APIException):
        response.data = error_body(detail=str(exc.detail), code=exc.get_codes())
    else:
        response.data = error_body(detail=str(response.data.get("detail")), code="error")
    return response


def _is_admin(request: HttpRequest) -> bool:
    return request.path.startswith(ADMIN_PREFIX)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_admin(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, DisallowedHost):
        body = error_body(
            detail="The Host header names a host this service does not serve (ALLOWED_HOSTS).",
            code="disallowed_host",
        )
    else:
        body = error_body(detail="Bad request.", code="bad_request")
    return JsonResponse(body, status=400)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_admin(request):
        return defaults.permission_denied(request, exception)
    return JsonResponse(
        error_body(detail="You do not have permission.", code="permission_denied"), status=403
    )


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_admin(request):
        return defaults.page_not_found(request, exception)
    return JsonResponse(
        error_body(detail=f"No endpoint at {request.path}.", code="not_found"), status=404
    )


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_admin(request):
        return defaults.server_error(request)
    return JsonResponse(
        error_body(detail="Internal server error.", code="server_error"), status=500
    )
