"""HTTPS behind a platform's proxy, the security headers, and the admin's login: lockout, session
length, password rules."""

from datetime import timedelta

from csp.constants import NONE, SELF

from bitespeed.settings.core import PLATFORM_HOSTS
from bitespeed.settings.environment import env_bool, env_int

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

# --- Admin login ---------------------------------------------------------------------------------

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
# No "AXES: BEGIN version …" line at the start of every process and command; failures and lockouts
# are still logged. https://django-axes.readthedocs.io/en/latest/4_configuration.html
AXES_VERBOSE = False
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
