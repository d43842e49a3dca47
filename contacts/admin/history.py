"""The history of clusters and the link records: read-only lists."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from contacts.admin.common import IdentifierSearchMixin, ReadOnlyMixin, ReplicaListMixin
from contacts.models import ClusterEvent, IdentityLink


def _contact_link(contact_id: int) -> str:
    """``#7``, linked to the contact's page; an erased contact's id stays, as a plain number."""
    url = reverse("admin:contacts_contact_change", args=[contact_id])
    return format_html('<a href="{}">#{}</a>', url, contact_id)


@admin.register(ClusterEvent)
class ClusterEventAdmin(ReadOnlyMixin, ReplicaListMixin, admin.ModelAdmin):
    """The append-only history: every change to links, with its source and staff user."""

    list_display = ["created_at", "kind", "source", "contact", "primary", "user"]
    list_filter = ["kind", "source", ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["user"]
    search_fields = ["=contact_id", "=primary_id"]
    search_help_text = "A contact id: its events, and those of the clusters it led."
    show_full_result_count = False
    ordering = ["-id"]
    actions = None

    @admin.display(description="contact", ordering="contact_id")
    def contact(self, event: ClusterEvent) -> str:
        return _contact_link(event.contact_id)

    @admin.display(description="primary", ordering="primary_id")
    def primary(self, event: ClusterEvent) -> str:
        return _contact_link(event.primary_id)


@admin.register(IdentityLink)
class IdentityLinkAdmin(IdentifierSearchMixin, ReadOnlyMixin, ReplicaListMixin, admin.ModelAdmin):
    """Link records: requests that bridged two clusters without creating a contact (SPEC §3)."""

    list_display = ["id", "email", "phone_number", "source", "created_at"]
    show_full_result_count = False
    ordering = ["-id"]
    actions = None
