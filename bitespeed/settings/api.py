"""The API: its cache (the rate limit's counters), request bodies, proxies, API keys, the rate
limit, Django REST framework and the OpenAPI description."""

import os
import re

from django.core.exceptions import ImproperlyConfigured

from bitespeed.settings.environment import env_bool, env_int

# --- Caches ---------------------------------------------------------------------------------------
# REDIS_URL shares the cache (and so the rate limit's counters) between workers and machines;
# without it each worker process counts on its own, and allows its share of the limit: the limit
# divided by the number of gunicorn workers (contacts.throttling).
WEB_CONCURRENCY = env_int("WEB_CONCURRENCY", default=2)

REDIS_URL = os.environ.get("REDIS_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- REST framework -------------------------------------------------------------------------------
# JSON in, JSON out, no authentication: the API is called by shops' backends.

# Largest request body the API reads, in bytes; larger bodies get 413.
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", default=16_384)

# How many proxies stand in front of the service: the rate limit and the admin's login lockout count
# per client address, taken that many entries from the end of X-Forwarded-For (0: the connecting
# address; contacts.client_address).
NUM_PROXIES = env_int("NUM_PROXIES", default=0)

# --- Access ---------------------------------------------------------------------------------------

# Whether every API call needs an API key (`Authorization: Api-Key <key>`). On by default, on every
# deploy path; `make run` turns it off for its loopback server only (docs/api.md, "Access").
API_KEYS_REQUIRED = env_bool("API_KEYS_REQUIRED", default=True)
# How long a process trusts a key it verified before reading its row again: a revoked key keeps
# working on a process for at most this long, and requests cost no extra round trip meanwhile.
API_KEY_CACHE_SECONDS = env_int("API_KEY_CACHE_SECONDS", default=10)

# The /identify/ rate limit, per API key (per client address for calls without one): a runaway
# client of one shop must not take the service from the others. On by default wherever keys are
# required, well above one shop's checkouts (a burst of a few thousand in a minute passes);
# none by default on the loopback development server that runs without keys. "off" turns it off.
# Without REDIS_URL each worker enforces its share (contacts.throttling).
IDENTIFY_RATE_LIMIT = os.environ.get(
    "IDENTIFY_RATE_LIMIT", "6000/min" if API_KEYS_REQUIRED else "off"
).strip()
if IDENTIFY_RATE_LIMIT.lower() in ("", "off"):
    IDENTIFY_RATE_LIMIT = None
elif not re.fullmatch(r"[1-9][0-9]*/(s|sec|m|min|h|hour|d|day)", IDENTIFY_RATE_LIMIT):
    raise ImproperlyConfigured(
        f"IDENTIFY_RATE_LIMIT={IDENTIFY_RATE_LIMIT!r}: give requests per period, such as "
        "6000/min, 100/s, 50000/hour or 1000000/day, or off."
    )

REST_FRAMEWORK = {
    "DEFAULT_PARSER_CLASSES": ["contacts.parsers.BoundedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "contacts.negotiation.JSONContentNegotiation",
    # Every API view needs a key with its scope (contacts.permissions); the health checks and the
    # API's own docs say so where they opt out.
    "DEFAULT_AUTHENTICATION_CLASSES": ["contacts.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["contacts.permissions.HasScope"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "contacts.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Optional rate limit of /identify/ per client, e.g. "600/min"; unset means no limit.
    # https://www.django-rest-framework.org/api-guide/throttling/
    "DEFAULT_THROTTLE_RATES": {"identify": IDENTIFY_RATE_LIMIT},
    "NUM_PROXIES": NUM_PROXIES,
}

# https://drf-spectacular.readthedocs.io/en/latest/settings.html
SPECTACULAR_SETTINGS = {
    "TITLE": "Identity reconciliation",
    "DESCRIPTION": (
        "Links a shop's contacts that share an email or a phone number into one identity."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and ReDoc are served from this service's static files: the docs need no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Swagger UI would otherwise send the schema to validator.swagger.io for a badge.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    # Names for the health checks' one-value enums, instead of generated hashes.
    "ENUM_NAME_OVERRIDES": {
        "StatusOkEnum": ["ok"],
        "StatusUnavailableEnum": ["unavailable"],
        "EventTypeEnum": "contacts.rules.events.ALL_EVENT_TYPES",
    },
}
