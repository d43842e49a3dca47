"""The history of clusters, told in sentences (``sentences.py``), and the link records:
read-only lists."""

from django.contrib import admin
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from contacts.admin.common import IdentifierSearchMixin, ReadOnlyMixin, ReplicaListMixin
from contacts.admin.sentences import event_sentence, timestamp
from contacts.models import ClusterEvent, EventKind, IdentityLink


def _contact_link(contact_id: int) -> str:
    """``#7``, linked to the contact's page; an erased contact's id stays, as a plain number."""
    url = reverse("admin:contacts_contact_change", args=[contact_id])
    return format_html('<a href="{}">#{}</a>', url, contact_id)


@admin.register(ClusterEvent)
class ClusterEventAdmin(ReadOnlyMixin, ReplicaListMixin, admin.ModelAdmin):
    """The append-only history: every change to links, with its source and staff user."""

    list_display = ["when", "kind", "what_happened", "source"]
    fields = ["when", "what_happened", "kind", "source", "contact", "primary", "user", "details"]
    readonly_fields = ["when", "what_happened", "contact", "primary"]
    list_filter = ["kind", "source", ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["user"]
    search_fields = ["=contact_id", "=primary_id"]
    search_help_text = "A contact id: its events, and those of the clusters it led."
    show_full_result_count = False
    ordering = ["-id"]
    actions = None

    class Media:
        css = {"all": ["contacts/admin/identity_pages.css"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        """Each event knows whether its contact was erased since: the values missing from its
        details then read ``[erased]``."""
        erased = ClusterEvent.objects.filter(
            kind=EventKind.ERASED, contact_id=OuterRef("contact_id")
        )
        return super().get_queryset(request).annotate(contact_erased=Exists(erased))

    @admin.display(description="when", ordering="created_at")
    def when(self, event: ClusterEvent) -> SafeString:
        return timestamp(event.created_at)

    @admin.display(description="what happened")
    def what_happened(self, event: ClusterEvent) -> SafeString:
        return event_sentence(event, erased=event.contact_erased)

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
