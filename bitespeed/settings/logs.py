"""Logging: one JSON object per line on stderr, each with its request id, never an email or a
phone number (docs/privacy.md)."""

import os

# One JSON object per line on stderr; every record carries the id of the request it belongs to.
# https://nhairs.github.io/python-json-logger/
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "contacts.request_log.RequestIdFilter"},
        # No email or phone number in any line, traceback or field (docs/privacy.md).
        "personal_data": {"()": "contacts.log_filters.PersonalDataFilter"},
        "disallowed_host": {"()": "contacts.log_filters.DisallowedHostFilter"},
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
