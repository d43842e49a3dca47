"""The support staff's admin (SPEC §7): find a cluster, see why its contacts belong, correct it.

Links are never written here. Django's generic change form would save every column of a contact
read before the form was shown, links included, so contacts are read-only in it; each correction
has its own page (``get_urls``, as ``UserAdmin`` does for passwords) that calls one service of
``contacts.services``. Those services own their transactions (docs/concurrency.md), so these pages
run outside any ``transaction.atomic``. Corrections need Django's change permission on contacts,
soft deletes its delete permission; the view permission alone makes a read-only support role.
"""

from collections.abc import Callable, Iterable

from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from contacts.forms import ContactIdentifiersForm
from contacts.models import LIVE, Cluster, ClusterEvent, Contact, EventKind, IdentityLink
from contacts.selectors.admin_pages import (
    cluster_detail,
    cluster_ids_matching,
    clusters_with_summary,
    contact_search_filter,
    contacts_with_cluster_size,
    identifier_search_filter,
    restore_preview,
    soft_delete_preview,
)
from contacts.services.corrections import (
    CorrectionError,
    ReconcileResult,
    clusters_reconcile,
    contact_edit,
    contact_restore,
    contact_soft_delete,
)

SEARCH_HELP = (
    "One id, email or phone number, written any way the API accepts it "
    "(case, spaces and dashes do not matter); matched exactly."
)


def _has_contact_permission(request: HttpRequest, action: str) -> bool:
    codename = get_permission_codename(action, Contact._meta)
    return request.user.has_perm(f"{Contact._meta.app_label}.{codename}")


def cluster_url(primary_id: int) -> str:
    return reverse("admin:contacts_cluster_change", args=[primary_id])


def clusters_url(primary_ids: Iterable[int]) -> str:
    """The list of clusters, showing only those led by ``primary_ids``."""
    ids = ",".join(str(primary_id) for primary_id in sorted(primary_ids))
    return f"{reverse('admin:contacts_cluster_changelist')}?id__in={ids}"


def describe_result(result: ReconcileResult) -> str:
    """One sentence on what a correction did to the clusters around it."""
    if not result.clusters:
        return "No link changed."
    return " ".join(
        f"{EventKind(cluster.kind).label}: cluster #{cluster.primary_id}, relinked "
        f"{', '.join(f'#{contact_id}' for contact_id in cluster.relinked_ids)}."
        for cluster in result.clusters
    )


class ReadOnlyMixin:
    """Nothing is added, changed or deleted through Django's generic pages."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Contact | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Contact | None = None) -> bool:
        return False


class CorrectionsMixin(ReadOnlyMixin):
    """Who may correct: the checks of the correction pages and actions (``permissions=[...]``)."""

    def has_correct_permission(self, request: HttpRequest, obj: Contact | None = None) -> bool:
        return _has_contact_permission(request, "change")

    def has_soft_delete_permission(self, request: HttpRequest, obj: Contact | None = None) -> bool:
        return _has_contact_permission(request, "delete")


class LiveListFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [("live", "Live"), ("deleted", "Soft-deleted")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "live":
            return queryset.filter(LIVE)
        if self.value() == "deleted":
            return queryset.exclude(LIVE)
        return queryset


@admin.register(Contact)
class ContactAdmin(CorrectionsMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "email",
        "phone_number",
        "link_precedence",
        "primary",
        "cluster_size",
        "created_at",
        "deleted_at",
    ]
    list_filter = ["link_precedence", LiveListFilter, ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["linked"]
    search_fields = ["=id", "=email", "=phone_number"]
    search_help_text = SEARCH_HELP
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    ordering = ["-id"]
    # Other orders would sort every contact: the id is the creation order, and has an index.
    sortable_by = ["id"]
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
    actions = ["soft_delete_selected", "restore_selected", "reconcile_selected"]
    change_form_template = "admin/contacts/contact/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return contacts_with_cluster_size(queryset=super().get_queryset(request))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """The whole input is one identifier (a phone number may hold spaces), matched exactly."""
        if not search_term.strip():
            return queryset, False
        return queryset.filter(contact_search_filter(term=search_term)), False

    @admin.display(description="primary")
    def primary(self, contact: Contact) -> str:
        leader = contact.linked or contact
        return format_html('<a href="{}">{}</a>', cluster_url(leader.id), leader)

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
            *super().get_urls(),
        ]

    def render_change_form(self, request: HttpRequest, context: dict, **kwargs) -> HttpResponse:
        context.update(
            can_correct=self.has_correct_permission(request),
            can_soft_delete=self.has_soft_delete_permission(request),
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
            correct=contact_soft_delete,
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
            correct=contact_restore,
            log="Restored.",
        )

    def _selected(self, request: HttpRequest) -> QuerySet:
        ids = (
            request.POST.getlist("ids") if request.method == "POST" else request.GET.getlist("ids")
        )
        return self.get_queryset(request).filter(pk__in=[i for i in ids if i.isdigit()])

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
            primary_ids: set[int] = set()
            for contact in contacts:
                result = correct(contact_id=contact.id, user=request.user)
                primary_ids.update(result.primary_ids)
                self.log_change(request, contact, log)
                self.message_user(request, f"#{contact.id}: {log} {describe_result(result)}")
            return HttpResponseRedirect(clusters_url(primary_ids))
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
        return _redirect_with_ids("admin:contacts_contact_soft_delete", queryset)

    @admin.action(description="Restore selected contacts…", permissions=["correct"])
    def restore_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        return _redirect_with_ids("admin:contacts_contact_restore", queryset)

    @admin.action(
        description="Re-run reconciliation for the selected contacts' clusters",
        permissions=["correct"],
    )
    def reconcile_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        return _reconcile(self, request, queryset)


def _redirect_with_ids(url_name: str, queryset: QuerySet) -> HttpResponseRedirect:
    ids = "&".join(f"ids={pk}" for pk in queryset.values_list("pk", flat=True))
    return HttpResponseRedirect(f"{reverse(url_name)}?{ids}")


def _reconcile(
    model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet
) -> HttpResponseRedirect:
    objects = list(queryset)
    result = clusters_reconcile(contact_ids=[obj.pk for obj in objects], user=request.user)
    for obj in objects:
        model_admin.log_change(request, obj, "Re-ran reconciliation.")
    model_admin.message_user(
        request, f"Reconciled {len(objects)} cluster(s). {describe_result(result)}"
    )
    return HttpResponseRedirect(clusters_url(result.primary_ids))


@admin.register(Cluster)
class ClusterAdmin(CorrectionsMixin, admin.ModelAdmin):
    """Clusters, one row per live primary; the change page is the cluster page (read-only)."""

    list_display = [
        "id",
        "email",
        "phone_number",
        "contact_count",
        "email_count",
        "phone_count",
        "last_activity",
        "created_at",
    ]
    list_filter = [("created_at", admin.DateFieldListFilter)]
    search_fields = ["=email", "=phone_number"]
    search_help_text = SEARCH_HELP
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    ordering = ["-id"]
    sortable_by = ["id"]
    actions = ["reconcile_selected"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return clusters_with_summary(queryset=super().get_queryset(request))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """The cluster of the live contact that the id, email or phone number finds."""
        if not search_term.strip():
            return queryset, False
        return queryset.filter(id__in=cluster_ids_matching(term=search_term)), False

    @admin.display(description="contacts")
    def contact_count(self, cluster: Cluster) -> int:
        return cluster.contact_count

    @admin.display(description="emails")
    def email_count(self, cluster: Cluster) -> int:
        return cluster.email_count

    @admin.display(description="phone numbers")
    def phone_count(self, cluster: Cluster) -> int:
        return cluster.phone_count

    @admin.display(description="last activity")
    def last_activity(self, cluster: Cluster):
        return cluster.last_activity

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        """The cluster page: its contacts, identifiers, link records, reasons and history.

        A cluster that has been merged away sends to the cluster its primary belongs to now.
        """
        if not self.has_view_permission(request):
            raise PermissionDenied
        if not object_id.isdigit():
            raise Http404
        cluster = Cluster.objects.filter(pk=object_id).first()
        if cluster is None:
            contact = get_object_or_404(Contact.live, pk=object_id)
            self.message_user(
                request,
                f"#{contact.id} is no longer a primary: this is the cluster it belongs to now.",
                messages.WARNING,
            )
            return HttpResponseRedirect(cluster_url(contact.linked_id))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "contact_opts": Contact._meta,
            "title": f"Cluster #{cluster.id}",
            "subtitle": str(cluster),
            "cluster": cluster_detail(primary_id=cluster.id),
            "can_correct": self.has_correct_permission(request),
            "can_soft_delete": self.has_soft_delete_permission(request),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/contacts/cluster/detail.html", context)

    @admin.action(
        description="Re-run reconciliation for selected clusters", permissions=["correct"]
    )
    def reconcile_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        return _reconcile(self, request, queryset)


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
