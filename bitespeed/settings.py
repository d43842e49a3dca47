"""Settings for the identity reconciliation service.

Every setting that differs between machines is read from the environment here and nowhere else
(12-factor). A ``.env`` file beside ``manage.py`` is loaded first when present, without
overriding variables that are already set; ``.env.example`` lists every variable.
"""

import os
import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent

load_dotenv(BASE_DIR / ".env", override=False)


def env_bool(name: str, *, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, *, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, *, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


# --- Core -----------------------------------------------------------------------------------------

DEBUG = env_bool("DEBUG", default=False)

# https://docs.djangoproject.com/en/5.2/ref/settings/#secret-key
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set the SECRET_KEY environment variable (for example "
            "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`), or set DEBUG=true "
            "for local development. `make run` writes one into .env for you."
        )
    SECRET_KEY = "insecure-development-key-only-used-when-debug-is-on"

# The public host names a platform assigns are added to the configured ones, so that a first deploy
# answers on its generated domain without further set-up.
PLATFORM_HOSTS = [
    host
    for host in (
        os.environ.get("RAILWAY_PUBLIC_DOMAIN"),
        os.environ.get("RENDER_EXTERNAL_HOSTNAME"),
    )
    if host
]
ALLOWED_HOSTS = [*env_list("ALLOWED_HOSTS", default="localhost,127.0.0.1,[::1]"), *PLATFORM_HOSTS]
# https://docs.djangoproject.com/en/5.2/ref/settings/#csrf-trusted-origins
CSRF_TRUSTED_ORIGINS = [
    *env_list("CSRF_TRUSTED_ORIGINS", default=""),
    *(f"https://{host}" for host in PLATFORM_HOSTS),
]

ROOT_URLCONF = "bitespeed.urls"
WSGI_APPLICATION = "bitespeed.wsgi.application"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    # Its own APIKey model is unused (contacts.models.ApiKey adds scopes); the app holds the base.
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "contacts",
]

MIDDLEWARE = [
    # First: every response carries a request id and gets one log line, health checks included.
    "contacts.middleware.RequestLogMiddleware",
    # Before anything that validates the Host header (SecurityMiddleware's HTTPS redirect,
    # CommonMiddleware): platform probes use host names of their own.
    "contacts.middleware.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Beside SecurityMiddleware, so that every response it dresses carries the policy too, the
    # static files WhiteNoise answers included.
    "contacts.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.common.CommonMiddleware",
    # After the Host check: a declared body over the API's cap is 413 unread; chunked bodies read.
    "contacts.middleware.BoundedBodyMiddleware",
    "contacts.middleware.AdminNulMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # With a read replica: after a change in the admin, that person's pages read the primary.
    "contacts.middleware.ReadYourWritesMiddleware",
    # Last, as django-axes asks: it answers a locked-out login attempt.
    "axes.middleware.AxesMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
# DATABASE_URL selects the database; the default is an SQLite file in the project.
# https://github.com/jazzband/dj-database-url

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        # Persistent connections: 1.1-2.4x the /identify/ throughput of CONN_MAX_AGE=0 here.
        conn_max_age=env_int("CONN_MAX_AGE", default=60),
        # Off by default (as in Django): the check is a `SELECT 1` round trip on every request.
        # Without it, /identify/ reconnects and retries when its connection turns out to be dead
        # (contacts.locking). https://docs.djangoproject.com/en/5.2/ref/settings/#conn-health-checks
        conn_health_checks=env_bool("CONN_HEALTH_CHECKS", default=False),
    )
}

# Seconds an SQLite writer waits for the database's write lock (docs/concurrency.md).
SQLITE_BUSY_TIMEOUT = env_int("SQLITE_BUSY_TIMEOUT", default=5)

# PostgreSQL: a pooler in transaction mode, and the settings each request's session must have.
DATABASE_POOL_MODE = "session"
DATABASE_SESSION_SETTINGS: dict[str, int | str] = {}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers take the database lock at BEGIN (no lock upgrades, so no deadlocks), readers keep
    # reading during writes (WAL). See docs/concurrency.md.
    # https://docs.djangoproject.com/en/5.2/ref/databases/#sqlite-transaction-behavior
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": SQLITE_BUSY_TIMEOUT,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        **DATABASES["default"].get("OPTIONS", {}),
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Parameters bound by the server, and each statement prepared once a connection has run it 5
    # times (Django leaves preparation off unless prepare_threshold is set): PostgreSQL parses and
    # plans the hot statements of /identify/ once per connection, not on every request. Prepared
    # statements keep one generic plan: with custom plans (PostgreSQL's default choice for the
    # hot statements) it planned them again on every request, half of a write's CPU
    # (bench/RESULTS.md). While the contacts table is small, its statistics follow its growth, so
    # that no plan made for an empty table is kept as it grows
    # (contacts/db/postgresql.py); work on batches of values is planned for its values
    # (DatabaseBackend.plans_for_values).
    # https://docs.djangoproject.com/en/5.2/ref/databases/#server-side-parameters-binding
    # https://www.psycopg.org/psycopg3/docs/advanced/prepare.html
    # Behind a pooler in transaction mode (PgBouncer's pool_mode=transaction), a server connection
    # serves another client after each transaction: no startup options (PgBouncer refuses them),
    # no named prepared statements or server-side cursors (they would outlive the transaction),
    # and the timeouts below come from the role's settings in the database instead, which
    # `manage.py database_settings --apply` writes and /health/ready/ checks (docs/scaling.md).
    DATABASE_POOL_MODE = os.environ.get("DATABASE_POOL_MODE", "session")
    if DATABASE_POOL_MODE not in ("session", "transaction"):
        raise ImproperlyConfigured(
            f"DATABASE_POOL_MODE={DATABASE_POOL_MODE}: give session (a direct connection or a "
            "pooler in session mode) or transaction (a pooler in transaction mode)."
        )
    pooled = DATABASE_POOL_MODE == "transaction"
    prepared_statements = env_bool("DATABASE_SERVER_SIDE_BINDING", default=True)
    # Every wait is bounded, so the database gives up before gunicorn's worker timeout: a request
    # that cannot get its locks in time answers 503 instead of hanging (docs/concurrency.md).
    # Operator commands lift the statement bounds for themselves (OPERATOR_STATEMENT_TIMEOUT_MS).
    # https://www.postgresql.org/docs/15/runtime-config-client.html
    session_settings = {
        "lock_timeout": env_int("DB_LOCK_TIMEOUT_MS", default=3_000),
        "statement_timeout": env_int("DB_STATEMENT_TIMEOUT_MS", default=10_000),
        "idle_in_transaction_session_timeout": env_int(
            "DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", default=30_000
        ),
        **({"plan_cache_mode": "force_generic_plan"} if prepared_statements and not pooled else {}),
    }
    connection_options = {
        "connect_timeout": env_int("DB_CONNECT_TIMEOUT", default=3),
        "application_name": os.environ.get("DB_APPLICATION_NAME", "bitespeed"),
        **(
            {}
            if pooled
            else {
                "options": " ".join(
                    f"-c {name}={value}" for name, value in session_settings.items()
                )
            }
        ),
        "server_side_binding": prepared_statements,
        "prepare_threshold": 5 if prepared_statements and not pooled else None,
    }
    # Options in DATABASE_URL's query string, such as sslmode, win.
    DATABASES["default"]["OPTIONS"] = {
        **connection_options,
        **DATABASES["default"].get("OPTIONS", {}),
    }
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = pooled
    # What every request's session must have in effect (checked by /health/ready/).
    DATABASE_SESSION_SETTINGS = session_settings

# A read replica (a PostgreSQL streaming standby, or a pooler in front of one, in the same pool
# mode as the primary's): the admin's lists and cluster pages, an identity's explanation and
# history, and the operators' checks and reports read from it while it is no more than
# REPLICA_MAX_LAG seconds behind; /identify/, the lookup and every write use the primary
# (contacts/db/routing.py, docs/scaling.md).
REPLICA_MAX_LAG = float(os.environ.get("REPLICA_MAX_LAG", "").strip() or 5)
DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL", "").strip()
if DATABASE_REPLICA_URL:
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured(
            "DATABASE_REPLICA_URL is a PostgreSQL standby: it needs a PostgreSQL DATABASE_URL."
        )
    replica = dj_database_url.parse(
        DATABASE_REPLICA_URL,
        conn_max_age=DATABASES["default"]["CONN_MAX_AGE"],
        conn_health_checks=DATABASES["default"]["CONN_HEALTH_CHECKS"],
    )
    DATABASES["replica"] = {
        **replica,
        "OPTIONS": {**connection_options, **replica.get("OPTIONS", {})},
        "DISABLE_SERVER_SIDE_CURSORS": DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"],
        # Tests read the test database through this alias too; a real standby is tested by
        # contacts/tests/test_replica.py (make test-replica).
        "TEST": {"MIRROR": "default"},
    }
    DATABASE_ROUTERS = ["contacts.db.routing.ReplicaRouter"]

# Operator work (migrate, import_contacts, reconcile) runs with this statement and
# idle-in-transaction timeout instead of a request's (DatabaseBackend.operator_session); 0 means
# none. Its lock timeout stays DB_LOCK_TIMEOUT_MS.
OPERATOR_STATEMENT_TIMEOUT_MS = env_int("DB_OPERATOR_STATEMENT_TIMEOUT_MS", default=3_600_000)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Identify transactions ------------------------------------------------------------------------

# How often one /identify/ transaction is tried when it loses a race for a lock (or PostgreSQL
# reports a deadlock or a serialization failure) before the request fails. See docs/concurrency.md.
IDENTIFY_MAX_ATTEMPTS = env_int("IDENTIFY_MAX_ATTEMPTS", default=10)

# --- Identifiers ----------------------------------------------------------------------------------

# A region code (ISO 3166, e.g. "IN", "DE"): phone numbers valid in its numbering plan are stored
# in E.164, so "098765 43210" and "+91 98765 43210" are one identity (contacts.normalize). Changing
# it changes canonical forms: run `manage.py reconcile` afterwards (docs/operations.md).
PHONE_DEFAULT_REGION = os.environ.get("PHONE_DEFAULT_REGION", "").strip().upper()
if PHONE_DEFAULT_REGION:
    import phonenumbers

    if PHONE_DEFAULT_REGION not in phonenumbers.SUPPORTED_REGIONS:
        raise ImproperlyConfigured(
            f"PHONE_DEFAULT_REGION={PHONE_DEFAULT_REGION!r} is not a region code phonenumbers "
            "knows (two letters, e.g. IN, US, DE)."
        )

# --- Identifier governance (docs/governance.md) ------------------------------------------------

# Live contacts an identity may reach before a write that would pass it is held for a person to
# decide; 0 turns the guard off. A person has a handful of contacts (a household or a small
# business sharing one phone, a few dozen); the merges that hurt (a shared support number, a
# placeholder) reach hundreds.
IDENTITY_MAX_CLUSTER_SIZE = env_int("IDENTITY_MAX_CLUSTER_SIZE", default=100)
if IDENTITY_MAX_CLUSTER_SIZE < 0 or IDENTITY_MAX_CLUSTER_SIZE == 1:
    raise ImproperlyConfigured(
        f"IDENTITY_MAX_CLUSTER_SIZE={IDENTITY_MAX_CLUSTER_SIZE}: give at least 2 contacts, or 0 "
        "for no limit."
    )

# --- Privacy (docs/privacy.md) ------------------------------------------------------------------
# The key of the erasure ledger's and the suppression list's keyed hashes (HMAC-SHA256): it must
# stay the same across backups and restores, or the ledger no longer finds the values it erased.
# Default: derived from SECRET_KEY (set it on its own before rotating SECRET_KEY).
PRIVACY_HASH_KEY = os.environ.get("PRIVACY_HASH_KEY", "") or f"privacy-ledger:{SECRET_KEY}"
# A file every erasure appends its ledger entries to (JSON Lines, keyed hashes only), kept apart
# from the database's backups so that a restore cannot lose it; empty: the database's table only.
PRIVACY_LEDGER_FILE = os.environ.get("PRIVACY_LEDGER_FILE", "")

# --- Events and webhooks (docs/events.md) --------------------------------------------------------
# Seconds a webhook endpoint has to answer one delivery.
WEBHOOK_TIMEOUT = env_int("WEBHOOK_TIMEOUT", default=5)
# Seconds a failing delivery is retried (with exponential backoff) before it is dead-lettered.
WEBHOOK_RETRY_PERIOD = env_int("WEBHOOK_RETRY_PERIOD", default=24 * 3600)
# Seconds a worker holds a delivery it sends; past it (the worker died), another worker may.
WEBHOOK_LEASE = env_int("WEBHOOK_LEASE", default=max(60, 2 * WEBHOOK_TIMEOUT))
if WEBHOOK_TIMEOUT < 1 or WEBHOOK_LEASE <= WEBHOOK_TIMEOUT:
    raise ImproperlyConfigured(
        f"WEBHOOK_TIMEOUT={WEBHOOK_TIMEOUT}, WEBHOOK_LEASE={WEBHOOK_LEASE}: the timeout must be at "
        "least 1 second and the lease longer than the timeout."
    )

# --- HTTPS behind a proxy -------------------------------------------------------------------------
# Platforms terminate TLS at their proxy and forward plain HTTP with X-Forwarded-Proto. HTTPS=true
# trusts that header and turns on the redirect, secure cookies and HSTS; it defaults to on where a
# platform's public domain is detected. Health checks are answered before the redirect.
# https://docs.djangoproject.com/en/5.2/ref/settings/#secure-proxy-ssl-header

HTTPS = env_bool("HTTPS", default=bool(PLATFORM_HOSTS))
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # https://docs.djangoproject.com/en/5.2/ref/middleware/#http-strict-transport-security
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- Security headers -----------------------------------------------------------------------------
# One Content-Security-Policy on every page and static file: a page added later is covered
# without anyone thinking of it (the API's JSON answers get one that allows nothing:
# contacts.middleware). The admin and Swagger UI run under it
# as it is: no inline script or style, no eval, nothing from another origin. ReDoc's page adds what
# ReDoc needs for itself only (bitespeed/urls.py, REDOC_POLICY). To allow more, add sources to a
# directive here, or to one view with django-csp's csp_update decorator (docs/admin.md, "Security
# headers"). script-src and style-src repeat default-src so that a view's additions extend them.
# https://django-csp.readthedocs.io/en/latest/configuration.html
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        # Swagger UI's icons are data: URIs in its style sheet.
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# Django's defaults, stated (SecurityMiddleware and XFrameOptionsMiddleware send them):
# https://docs.djangoproject.com/en/5.2/ref/middleware/#module-django.middleware.security
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

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

# --- Auth, i18n, static files ---------------------------------------------------------------------

# Password guessing at the admin login: after ADMIN_LOGIN_FAILURE_LIMIT failures for one username
# from one address, that pair is locked out for ADMIN_LOGIN_COOLOFF_MINUTES (429), even with the
# right password. A success resets the count. https://django-axes.readthedocs.io/
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("ADMIN_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("ADMIN_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Staff stay signed in to the admin for a working day by default, not Django's two weeks.
SESSION_COOKIE_AGE = env_int("ADMIN_SESSION_HOURS", default=8) * 3600
# The lockout counts per client behind NUM_PROXIES proxies, as the API's rate limit does.
AXES_CLIENT_IP_CALLABLE = "contacts.client_address.client_address"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# https://whitenoise.readthedocs.io/en/stable/django.html
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
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

# --- Logging --------------------------------------------------------------------------------------

# One JSON object per line on stderr; every record carries the id of the request it belongs to.
# https://nhairs.github.io/python-json-logger/
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "contacts.request_log.RequestIdFilter"},
        # No email or phone number in any line, traceback or field (docs/privacy.md).
        "personal_data": {"()": "contacts.log_filters.PersonalDataFilter"},
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
    },
}
