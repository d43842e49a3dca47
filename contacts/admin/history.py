"""The history of clusters and the link records: read-only lists."""

from django.contrib import admin

from contacts.admin.common import IdentifierSearchMixin, ReadOnlyMixin
from contacts.models import ClusterEvent, IdentityLink


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
class IdentityLinkAdmin(IdentifierSearchMixin, ReadOnlyMixin, admin.ModelAdmin):
    """Link records: requests that bridged two clusters without creating a contact (SPEC §3)."""

    list_display = ["id", "email", "phone_number", "source", "created_at"]
    show_full_result_count = False
    ordering = ["-id"]
    actions = None
