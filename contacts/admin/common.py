"""What the admins share: permissions, links to cluster pages, read-only, correction and
read-replica mixins."""

from collections.abc import Iterable

from django.contrib import admin
from django.contrib.auth import get_permission_codename
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from contacts.db.routing import reads_from_replica
from contacts.models import LIVE, Contact, EventKind
from contacts.selectors.admin_pages import identifier_search_filter
from contacts.services.relinking import ReconcileResult
from contacts.services.repairs import clusters_reconcile

SEARCH_HELP = (
    "One id, email or phone number, written any way the API accepts it "
    "(case, spaces and dashes do not matter); matched exactly."
)


def has_contact_permission(request: HttpRequest, action: str) -> bool:
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


class IdentifierSearchMixin:
    """Search rows that carry an ``email`` and a ``phone_number`` by one value, written any way
    the API accepts it (link records, held merges)."""

    search_fields = ["=email", "=phone_number"]
    search_help_text = "One email or phone number, normalized as the API does; matched exactly."

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        if not search_term.strip():
            return queryset, False
        return queryset.filter(identifier_search_filter(term=search_term)), False


class ReplicaListMixin:
    """The list, its searches and filters read from the read replica, when there is one
    (docs/scaling.md); its actions, which write, do not."""

    def changelist_view(
        self, request: HttpRequest, extra_context: dict | None = None
    ) -> HttpResponse:
        view = super().changelist_view
        if request.method == "GET":
            view = reads_from_replica(view)
        return view(request, extra_context)


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
        return has_contact_permission(request, "change")

    def has_soft_delete_permission(self, request: HttpRequest, obj: Contact | None = None) -> bool:
        return has_contact_permission(request, "delete")


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


def redirect_with_ids(url_name: str, queryset: QuerySet) -> HttpResponseRedirect:
    ids = "&".join(f"ids={pk}" for pk in queryset.values_list("pk", flat=True))
    return HttpResponseRedirect(f"{reverse(url_name)}?{ids}")


def reconcile_clusters_of(
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
