"""The Django project itself: debug and secret key, the hosts it answers, its apps, middleware,
templates, time zone and static files."""

import os

from django.core.exceptions import ImproperlyConfigured

from bitespeed.settings.environment import BASE_DIR, env_bool, env_list

DEBUG = env_bool("DEBUG", default=False)

# https://docs.djangoproject.com/en/5.2/ref/settings/#secret-key
# Required while DEBUG is off, and never a published one: .env.example's placeholder, or a key that
# Django's startproject marks as insecure. manage.py and gunicorn.conf.py print the message alone.
SECRET_KEY = os.environ.get("SECRET_KEY", "")
published = SECRET_KEY == "change-me" or SECRET_KEY.startswith("django-insecure-")
if not DEBUG and (not SECRET_KEY or published):
    problem = "is a published example, not a secret" if SECRET_KEY else "is not set"
    raise ImproperlyConfigured(
        f"SECRET_KEY {problem}. Set the SECRET_KEY environment variable to a new random key "
        "(`python -c 'import secrets; print(secrets.token_urlsafe(50))'`), or set DEBUG=true "
        "for local development. `make run` writes one into .env for you."
    )
if not SECRET_KEY:
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
    # Django's admin, with the service's own site (contacts/admin_site.py).
    "contacts.admin_site.IdentityAdminConfig",
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
    # Django's sessions and messages, made only for the pages that use them (the admin's).
    "contacts.lazy_middleware.LazySessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "contacts.lazy_middleware.LazyMessageMiddleware",
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
