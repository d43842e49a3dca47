"""Contacts: the list, a read-only page, a page per correction (edit, soft delete, restore), and
the erase page (``privacy.py``)."""

from collections.abc import Callable

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils import formats, timezone
from django.utils.html import format_html

from contacts.admin.common import (
    SEARCH_HELP,
    CorrectionsMixin,
    LiveListFilter,
    ReplicaListMixin,
    cluster_url,
    clusters_url,
    describe_result,
    reconcile_clusters_of,
    redirect_with_ids,
)
from contacts.admin.importing import contact_import_view
from contacts.admin.privacy import ErasureActionsMixin
from contacts.exceptions import CorrectionError
from contacts.forms import ContactIdentifiersForm
from contacts.models import LIVE, Contact
from contacts.normalize import parse_row_id
from contacts.selectors.admin_pages import (
    contact_search_filter,
    contacts_with_cluster_size,
    restore_preview,
    soft_delete_preview,
)
from contacts.services.corrections import contact_edit, contacts_restore, contacts_soft_delete
from contacts.services.relinking import ReconcileResult


@admin.register(Contact)
class ContactAdmin(ErasureActionsMixin, CorrectionsMixin, ReplicaListMixin, admin.ModelAdmin):
    # What fits a laptop's screen beside the sidebar (docs/admin.md, "Lists"); the rest, such as
    # when a contact was deleted, is on its page. A primary's own row says so in "primary".
    list_display = [
        "contact",
        "status",
        "email",
        "phone_number",
        "primary",
        "cluster_size",
        "created_at",
    ]
    list_display_links = ["contact"]
    list_filter = ["link_precedence", LiveListFilter, ("created_at", admin.DateFieldListFilter)]
    search_fields = ["=id", "=email", "=phone_number"]
    search_help_text = SEARCH_HELP
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    ordering = ["-id"]
    # Other orders would sort every contact: the id is the creation order, and has an index.
    sortable_by = ["contact"]
    fields = [
        "email",
        "phone_number",
        "link_precedence",
        "linked",
        "created_at",
        "updated_at",
        "deleted_at",
    ]
    readonly_fields = fields
    actions = ["soft_delete_selected", "restore_selected", "reconcile_selected", "erase_selected"]
    change_form_template = "admin/contacts/erasure/contact_change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return contacts_with_cluster_size(queryset=super().get_queryset(request))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """The whole input is one identifier (a phone number may hold spaces), matched exactly."""
        if not search_term.strip():
            return queryset, False
        return queryset.filter(contact_search_filter(term=search_term)), False

    @admin.display(description="contact", ordering="id")
    def contact(self, contact: Contact) -> str:
        return f"#{contact.id}"

    @admin.display(description="status")
    def status(self, contact: Contact) -> str:
        """A badge on a soft-deleted contact (its row is struck through by the list's style
        sheet), with the time of the deletion as its tooltip."""
        if contact.deleted_at is None:
            return "live"
        deleted_at = formats.localize(timezone.template_localtime(contact.deleted_at))
        return format_html(
            '<span class="badge-deleted" title="Soft-deleted {}">deleted</span>', deleted_at
        )

    @admin.display(description="primary")
    def primary(self, contact: Contact) -> str:
        """A link to the cluster: its primary's number, or "itself" on the primary's own row."""
        if contact.linked_id is None:
            return format_html('<a href="{}">itself</a>', cluster_url(contact.id))
        return format_html(
            '<a href="{}">#{}</a>', cluster_url(contact.linked_id), contact.linked_id
        )

    @admin.display(description="cluster size")
    def cluster_size(self, contact: Contact) -> int:
        return contact.cluster_size

    def get_urls(self) -> list[URLPattern]:
        def name(page: str) -> str:
            return f"{self.opts.app_label}_{self.opts.model_name}_{page}"

        view = self.admin_site.admin_view
        return [
            path(
                "<int:object_id>/identifiers/",
                view(self.identifiers_view),
                name=name("identifiers"),
            ),
            path("soft-delete/", view(self.soft_delete_view), name=name("soft_delete")),
            path("restore/", view(self.restore_view), name=name("restore")),
            path("import/", view(contact_import_view(self)), name=name("import")),
            *super().get_urls(),
        ]

    def render_change_form(self, request: HttpRequest, context: dict, **kwargs) -> HttpResponse:
        original = context.get("original")
        context.update(
            can_correct=self.has_correct_permission(request),
            can_soft_delete=self.has_soft_delete_permission(request),
            erase_url=original and self.erase_url(request, original.pk),
        )
        return super().render_change_form(request, context, **kwargs)

    # --- Corrections ------------------------------------------------------------------------------

    def identifiers_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """Edit a live contact's email and phone number, then reconcile the clusters around it."""
        if not self.has_correct_permission(request):
            raise PermissionDenied
        contact = get_object_or_404(self.get_queryset(request).filter(LIVE), pk=object_id)
        form = ContactIdentifiersForm(
            request.POST or None,
            initial={"email": contact.email, "phone_number": contact.phone_number},
        )
        if request.method == "POST" and form.is_valid():
            email, phone_number = form.cleaned_data["email"], form.cleaned_data["phone_number"]
            if (email, phone_number) == (contact.email, contact.phone_number):
                self.message_user(request, f"#{contact.id}: nothing changed.", messages.INFO)
                return HttpResponseRedirect(cluster_url(contact.linked_id or contact.id))
            try:
                result = contact_edit(
                    contact_id=contact.id, email=email, phone_number=phone_number, user=request.user
                )
            except CorrectionError as error:
                form.add_error(None, str(error))
            else:
                change = (
                    f"Changed email {contact.email or '—'} → {email or '—'}, "
                    f"phone number {contact.phone_number or '—'} → {phone_number or '—'}."
                )
                self.log_change(request, contact, change)
                self.message_user(request, f"#{contact.id}: {change} {describe_result(result)}")
                return HttpResponseRedirect(clusters_url(result.primary_ids))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Edit the email and phone number of {contact}",
            "contact": contact,
            "form": form,
        }
        return TemplateResponse(request, "admin/contacts/contact/identifiers_form.html", context)

    def soft_delete_view(self, request: HttpRequest) -> HttpResponse:
        """Confirm, then soft-delete the contacts of ``?ids=``; their clusters may split."""
        if not self.has_soft_delete_permission(request):
            raise PermissionDenied
        return self._correction_view(
            request,
            contacts=self._selected(request).filter(LIVE),
            action="soft-delete",
            preview=lambda contact: soft_delete_preview(contact_id=contact.id),
            correct=contacts_soft_delete,
            log="Soft-deleted.",
        )

    def restore_view(self, request: HttpRequest) -> HttpResponse:
        """Confirm, then restore the soft-deleted contacts of ``?ids=``; clusters may merge."""
        if not self.has_correct_permission(request):
            raise PermissionDenied
        return self._correction_view(
            request,
            contacts=self._selected(request).exclude(LIVE),
            action="restore",
            preview=lambda contact: [restore_preview(contact_id=contact.id)],
            correct=contacts_restore,
            log="Restored.",
        )

    def _selected(self, request: HttpRequest) -> QuerySet:
        ids = (
            request.POST.getlist("ids") if request.method == "POST" else request.GET.getlist("ids")
        )
        parsed = (parse_row_id(contact_id) for contact_id in ids)
        return self.get_queryset(request).filter(pk__in=[i for i in parsed if i is not None])

    def _correction_view(
        self,
        request: HttpRequest,
        *,
        contacts: QuerySet,
        action: str,
        preview: Callable[[Contact], list[list[int]]],
        correct: Callable[..., ReconcileResult],
        log: str,
    ) -> HttpResponse:
        contacts = list(contacts)
        if request.method == "POST" and contacts:
            result = correct(contact_ids=[contact.id for contact in contacts], user=request.user)
            for contact in contacts:
                self.log_change(request, contact, log)
            listed = ", ".join(f"#{contact.id}" for contact in contacts)
            self.message_user(request, f"{listed}: {log} {describe_result(result)}")
            return HttpResponseRedirect(clusters_url(result.primary_ids))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Are you sure you want to {action} {len(contacts)} contact(s)?",
            "action": action,
            "items": [(contact, preview(contact)) for contact in contacts],
        }
        return TemplateResponse(
            request, "admin/contacts/contact/correction_confirmation.html", context
        )

    # --- Bulk actions (Django's "delete selected" would bypass the soft delete) -------------------

    @admin.action(description="Soft-delete selected contacts…", permissions=["soft_delete"])
    def soft_delete_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        return redirect_with_ids("admin:contacts_contact_soft_delete", queryset)

    @admin.action(description="Restore selected contacts…", permissions=["correct"])
    def restore_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        return redirect_with_ids("admin:contacts_contact_restore", queryset)

    @admin.action(
        description="Re-run reconciliation for the selected contacts' clusters",
        permissions=["correct"],
    )
    def reconcile_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        return reconcile_clusters_of(self, request, queryset)
