"""The request id and per-request fields that log records carry.

``contacts.middleware.RequestLogMiddleware`` opens a ``RequestContext`` for every request and writes
its one log line when the response is ready. Code that serves the request adds fields to that line
with ``annotate_request`` (the ``/identify/`` view adds its outcome) instead of knowing about the
middleware, and every other record logged meanwhile (a traceback, a retry) gets the request id
through ``RequestIdFilter``.
"""

import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

REQUEST_ID_HEADER = "X-Request-ID"
# The header as WSGI passes it: read from ``request.META``, which every request has, rather than
# ``request.headers``, which Django builds from every header of the request on first use.
REQUEST_ID_META_KEY = "HTTP_X_REQUEST_ID"

# An incoming id is kept when it looks like one (UUIDs, trace ids, platform ids); anything else
# is replaced so that a client cannot put arbitrary text into the logs.
_ACCEPTABLE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@dataclass
class RequestContext:
    request_id: str
    fields: dict[str, object] = field(default_factory=dict)


_current: ContextVar[RequestContext | None] = ContextVar("request_context", default=None)


def request_id_from(*, incoming: str | None) -> str:
    """The client's ``X-Request-ID`` when it is acceptable, otherwise a new one."""
    if incoming and _ACCEPTABLE_REQUEST_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


@contextmanager
def request_context(*, request_id: str) -> Iterator[RequestContext]:
    context = RequestContext(request_id=request_id)
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def current_request_id() -> str | None:
    """The id of the request being served; outside a request, ``None``."""
    context = _current.get()
    return context.request_id if context is not None else None


def annotate_request(**fields: object) -> None:
    """Add ``fields`` to the log line of the request being served; outside a request, nothing."""
    context = _current.get()
    if context is not None:
        context.fields.update(fields)


class RequestIdFilter(logging.Filter):
    """Stamp records logged while a request is served with its ``request_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _current.get()
        if context is not None:
            record.request_id = context.request_id
        return True
