"""The history of clusters and the link records: read-only lists."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from contacts.admin.common import (
    ReadOnlyMixin,
)
from contacts.models import ClusterEvent, IdentityLink
from contacts.selectors.admin_pages import (
    identifier_search_filter,
)


@admin.register(ClusterEvent)
class ClusterEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """The append-only history: every change to links, with its source and staff user."""

    list_display = ["created_at", "kind", "source", "contact", "primary", "user"]
    list_filter = ["kind", "source", ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["contact", "primary", "user"]
    search_fields = ["=contact__id", "=primary__id"]
    search_help_text = "A contact id: its events, and those of the clusters it led."
    show_full_result_count = False
    ordering = ["-id"]
    actions = None


@admin.register(IdentityLink)
class IdentityLinkAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Link records: requests that bridged two clusters without creating a contact (SPEC §3)."""

    list_display = ["id", "email", "phone_number", "source", "created_at"]
    search_fields = ["=email", "=phone_number"]
    search_help_text = "One email or phone number, normalized as the API does; matched exactly."
    show_full_result_count = False
    ordering = ["-id"]
    actions = None

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        if not search_term.strip():
            return queryset, False
        return queryset.filter(identifier_search_filter(term=search_term)), False
