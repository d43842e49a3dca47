from csp.constants import NONCE
from csp.decorators import csp_update
from django.contrib import admin
from django.urls import path, re_path
from django.views.generic import TemplateView
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)
from rest_framework.negotiation import DefaultContentNegotiation

from contacts.views.events import EventFeedView
from contacts.views.identities import IdentifyView, IdentityDetailView, IdentityLookupView
from contacts.views.operations import LivenessView, MetricsView, ReadinessView
from contacts.views.privacy import ErasureCreateView, ErasureDetailView, PersonExportView

# The API's description and its pages need no API key.
PUBLIC = {"authentication_classes": [], "permission_classes": []}

# What ReDoc needs beyond the site's Content-Security-Policy (settings.CONTENT_SECURITY_POLICY), on
# its page only. Its styles go into <style> elements: styled-components' carry the response's nonce
# (contacts/static/contacts/docs/redoc-init.js hands it to ReDoc), and the one sheet its bundle
# writes as it loads, before a nonce can reach it (perfect-scrollbar's), is allowed by its hash, as
# is the empty element it starts as. Its search runs in a worker made from a blob: URL. A ReDoc
# upgrade (drf-spectacular-sidecar) may change that sheet: the browser test then fails, and
# Chromium's console names the new hash.
REDOC_POLICY = {
    "style-src": [
        NONCE,
        "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",
        "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",
    ],
    "worker-src": ["blob:"],
}

urlpatterns = [
    # A page for people who open the service's address, and the admin's "View site": where the
    # docs, the admin and the health checks are. Any other unknown path is the API's JSON 404.
    path("", TemplateView.as_view(template_name="contacts/landing.html"), name="landing"),
    path("admin/", admin.site.urls),
    # Both /identify/ and /identify answer: a redirect turns a POST into a GET for some clients.
    re_path(r"^identify/?$", IdentifyView.as_view(), name="identify"),
    path("identities/lookup/", IdentityLookupView.as_view(), name="identity-lookup"),
    path("identities/<int:contact_id>/", IdentityDetailView.as_view(), name="identity-detail"),
    # A person's data (docs/privacy.md): identifiers only in bodies, never in these URLs.
    path("privacy/erasures/", ErasureCreateView.as_view(), name="privacy-erasures"),
    path("privacy/erasures/<int:erasure_id>/", ErasureDetailView.as_view(), name="privacy-erasure"),
    path("privacy/exports/", PersonExportView.as_view(), name="privacy-exports"),
    # The pull feed of identity events (docs/events.md): ids only, never an identifier.
    path("events/", EventFeedView.as_view(), name="events"),
    # Prometheus' scrape (docs/operations.md, "Metrics"), with a key of the metrics scope.
    path("metrics", MetricsView.as_view(), name="metrics"),
    # Answered by contacts.middleware.HealthCheckMiddleware for any host; listed for the schema.
    path("health/", LivenessView.as_view(), name="health"),
    path("health/ready/", ReadinessView.as_view(), name="health-ready"),
    # The schema is YAML by default and JSON with ?format=json, hence DRF's own negotiation. The
    # schema and its pages are public: they describe the API and hold no customer's data.
    path(
        "api/schema/",
        SpectacularAPIView.as_view(content_negotiation_class=DefaultContentNegotiation, **PUBLIC),
        name="schema",
    ),
    # Swagger UI's init script is served at /docs/?script=, not inline: the page needs nothing
    # beyond the site's Content-Security-Policy. ReDoc needs a little more (REDOC_POLICY).
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="schema", template_name="contacts/swagger_ui.html", **PUBLIC
        ),
        name="docs",
    ),
    path(
        "redoc/",
        csp_update(REDOC_POLICY)(
            SpectacularRedocView.as_view(
                url_name="schema", template_name="contacts/redoc.html", **PUBLIC
            )
        ),
        name="redoc",
    ),
]

handler400 = "contacts.errors.bad_request"
handler403 = "contacts.errors.permission_denied"
handler404 = "contacts.errors.page_not_found"
handler500 = "contacts.errors.server_error"
