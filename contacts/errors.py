"""Every error the API answers, mapped to its response here and only here, in the one error shape
(``contacts.serializers.ErrorSerializer``): ``{"detail", "code", "errors"?: {field: [str]}}``.

DRF's exceptions and the service's own (``contacts.exceptions``) are answered by
``api_exception_handler``; errors raised outside DRF views (unknown URLs, crashes) by the
``handler*`` views that ``bitespeed.urls`` installs. Pages of the admin keep Django's HTML error
pages.
"""

import logging

from django.core.exceptions import DisallowedHost
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse, UnreadablePostError
from django.views import defaults
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler

from contacts.exceptions import RequestTimeout, ServiceError, ServiceUnavailable
from contacts.locking import LocksChanged, SQLState, sqlstate
from contacts.request_log import annotate_request
from contacts.serializers import error_body

logger = logging.getLogger(__name__)

ADMIN_PREFIX = "/admin/"


def api_error_body(error: exceptions.APIException | ServiceError) -> dict:
    """The body an exception is answered with; also the source of the schema's examples."""
    if isinstance(error, ServiceError):
        return error_body(detail=error.detail, code=error.code, errors=error.errors)
    if isinstance(error, exceptions.ValidationError):
        return _validation_body(error)
    return error_body(detail=str(error.detail), code=error.get_codes())


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


def _as_service_error(exc: Exception) -> ServiceError | None:
    """The service's error for an exception raised below the views, if it is one of theirs."""
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, LocksChanged):
        return ServiceUnavailable(reason="lock_retries_exhausted")
    if isinstance(exc, (OperationalError, InterfaceError)):
        code = sqlstate(exc)
        reason = _UNAVAILABLE_REASONS.get(code, "database_unreachable" if code is None else code)
        return ServiceUnavailable(reason=reason)
    if isinstance(exc, UnreadablePostError):
        return RequestTimeout()
    return None


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler with every body in the one error shape, and busy databases as ``503``."""
    error = _as_service_error(exc)
    if error is not None:
        if isinstance(error, ServiceUnavailable):
            annotate_request(outcome="unavailable", reason=error.reason)
            logger.exception(
                "database unavailable (%s) for %s", error.reason, context["request"].path
            )
        return Response(api_error_body(error), status=error.status_code, headers=error.headers)
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        annotate_request(outcome="rejected")
    if isinstance(exc, exceptions.APIException):
        response.data = api_error_body(exc)
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
    error = ServiceError()
    return JsonResponse(api_error_body(error), status=error.status_code)
