from django.contrib import admin
from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.negotiation import DefaultContentNegotiation

from contacts.views import (
    IdentifyView,
    IdentityDetailView,
    IdentityLookupView,
    LivenessView,
    ReadinessView,
)

# The API's description and its pages need no API key.
PUBLIC = {"authentication_classes": [], "permission_classes": []}

urlpatterns = [
    path("admin/", admin.site.urls),
    # Both /identify/ and /identify answer: a redirect turns a POST into a GET for some clients.
    re_path(r"^identify/?$", IdentifyView.as_view(), name="identify"),
    path("identities/lookup/", IdentityLookupView.as_view(), name="identity-lookup"),
    path("identities/<int:contact_id>/", IdentityDetailView.as_view(), name="identity-detail"),
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
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema", **PUBLIC), name="docs"),
    path(
        "redoc/",
        SpectacularRedocView.as_view(
            url_name="schema", template_name="contacts/redoc.html", **PUBLIC
        ),
        name="redoc",
    ),
]

handler400 = "contacts.errors.bad_request"
handler403 = "contacts.errors.permission_denied"
handler404 = "contacts.errors.page_not_found"
handler500 = "contacts.errors.server_error"
