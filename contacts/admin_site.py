"""The service's admin site: its own name, and the identity pages first on its index and sidebar.

Installed as Django documents for overriding the default site: ``IdentityAdminConfig`` replaces
``django.contrib.admin`` in ``INSTALLED_APPS`` and names ``IdentityAdminSite`` as its
``default_site``, so that every ``@admin.register`` and ``admin.site.urls`` use it. The module is
outside ``contacts/admin/``, whose modules import the models: ``INSTALLED_APPS`` imports it before
any model can be. https://docs.djangoproject.com/en/5.2/ref/contrib/admin/#overriding-default-admin-site
"""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest

APP_LABEL = "contacts"
# What a support person opens first, in this order; the app's other pages follow by name.
IDENTITY_MODELS = ["Cluster", "Contact", "ClusterEvent", "IdentityLink"]


class IdentityAdminSite(admin.AdminSite):
    site_header = "Identity reconciliation"
    site_title = "Identity reconciliation"
    index_title = "Identities, corrections and integrations"
    # "View site" leads to the landing page (bitespeed/urls.py), Django's default made explicit.
    site_url = "/"

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict]:
        """The contacts app first, the identity pages at its top; the lock-out records (AXES) and
        the users and groups after it, in Django's order."""
        apps = sorted(
            super().get_app_list(request, app_label),
            key=lambda app: app["app_label"] != APP_LABEL,
        )
        for app in apps:
            if app["app_label"] == APP_LABEL:
                app["models"].sort(key=_identity_first)
        return apps


def _identity_first(model: dict) -> tuple[int, str]:
    name = model["object_name"]
    rank = IDENTITY_MODELS.index(name) if name in IDENTITY_MODELS else len(IDENTITY_MODELS)
    return rank, model["name"]


class IdentityAdminConfig(AdminConfig):
    default_site = "contacts.admin_site.IdentityAdminSite"
