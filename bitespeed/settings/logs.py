"""Logging: one JSON object per line on stderr, each with its request id, never an email or a
phone number (docs/privacy.md)."""

import logging
import os

# How much of a refused Host header a log line quotes: the client chose it, and may have sent
# kilobytes of it.
HOST_QUOTED_CHARACTERS = 100


class DisallowedHostFilter(logging.Filter):
    """One WARNING line, without a traceback, for a request whose Host is not in ALLOWED_HOSTS.

    Django logs each one at ERROR with the traceback of its ``DisallowedHost`` exception
    (``django.core.handlers.exception``), although the client only gets its ``400``: scanners and
    probes that call the service by its address would fill the logs with tracebacks. The line
    quotes the host (escaped, at most ``HOST_QUOTED_CHARACTERS``) instead of Django's message,
    which quotes it twice, and leaves out the request (its line from ``contacts.requests`` follows,
    with the same request id). Attached to the ``django.security.DisallowedHost`` logger.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request = record.__dict__.pop("request", None)
        if request is None:
            record.msg, record.args = _quoted(record.getMessage()), None
        else:
            host = request.META.get("HTTP_HOST") or request.META.get("SERVER_NAME", "")
            record.msg = "Host %s is not in ALLOWED_HOSTS: answered 400"
            record.args = (_quoted(host),)
        record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        record.exc_info = record.exc_text = None
        return True


def _quoted(text: str) -> str:
    """``text`` as a Python literal, escaped, cut at ``HOST_QUOTED_CHARACTERS``."""
    quoted = repr(text[:HOST_QUOTED_CHARACTERS])
    if len(text) > HOST_QUOTED_CHARACTERS:
        quoted += f" (cut, {len(text)} characters)"
    return quoted


# One JSON object per line on stderr; every record carries the id of the request it belongs to.
# https://nhairs.github.io/python-json-logger/
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "contacts.request_log.RequestIdFilter"},
        # No email or phone number in any line, traceback or field (docs/privacy.md).
        "personal_data": {"()": "contacts.log_filters.PersonalDataFilter"},
        "disallowed_host": {"()": "bitespeed.settings.logs.DisallowedHostFilter"},
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            # ISO 8601, in UTC.
            "timestamp": "time",
        }
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id", "personal_data"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # Only the console handler writes Django's records: Django's own defaults would also print
        # them unfiltered when DEBUG is on (its "console"), mail them (``mail_admins``, with the
        # request) and print runserver's lines with their query strings (``django.server``).
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        # Django warns of every 4xx, which the request line already says; its 5xx tracebacks stay.
        "django.request": {"level": "ERROR"},
        "django.security.DisallowedHost": {"filters": ["disallowed_host"]},
    },
}
