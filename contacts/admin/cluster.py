"""Identity clusters: one row per live primary; the change page is the cluster page, and erasing a
cluster (``privacy.py``) erases its primary's identity."""

from datetime import datetime

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import pluralize
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from contacts.admin.charts import held_merges_chart, size_chart
from contacts.admin.common import (
    SEARCH_HELP,
    CorrectionsMixin,
    ReplicaListMixin,
    cluster_url,
    reconcile_clusters_of,
)
from contacts.admin.governance import has_govern_permission
from contacts.admin.graph_picture import cluster_picture
from contacts.admin.privacy import ErasureActionsMixin
from contacts.admin.sentences import history_entries
from contacts.db.routing import reads_from_replica
from contacts.models import Cluster, Contact, HeldMerge
from contacts.normalize import parse_row_id
from contacts.selectors.admin_pages import (
    cluster_detail,
    cluster_ids_matching,
    clusters_with_summary,
)
from contacts.selectors.data_quality import (
    IDENTIFIER_FIELDS,
    cluster_size_histogram,
    held_merges_by_day,
    held_merges_pending,
    most_shared_identifiers,
)
from contacts.selectors.governance import current_policy, governance_token

# Identifiers of each kind the data-quality page lists.
MOST_SHARED_LISTED = 20
# Days the chart of held merges covers, today included.
HELD_MERGE_DAYS = 30


@admin.register(Cluster)
class ClusterAdmin(ErasureActionsMixin, CorrectionsMixin, ReplicaListMixin, admin.ModelAdmin):
    """Clusters, one row per live primary; the change page is the cluster page (read-only)."""

    # What fits a laptop's screen beside the sidebar (docs/admin.md, "Lists").
    list_display = [
        "cluster",
        "email",
        "phone_number",
        "contact_count",
        "identifiers",
        "last_activity",
        "created_at",
    ]
    list_display_links = ["cluster"]
    list_filter = [("created_at", admin.DateFieldListFilter)]
    search_fields = ["=email", "=phone_number"]
    search_help_text = SEARCH_HELP
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    ordering = ["-id"]
    sortable_by = ["cluster"]
    actions = ["reconcile_selected", "erase_selected"]
    change_list_template = "admin/contacts/cluster/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return clusters_with_summary(queryset=super().get_queryset(request))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """The cluster of the live contact that the id, email or phone number finds."""
        if not search_term.strip():
            return queryset, False
        return queryset.filter(id__in=cluster_ids_matching(term=search_term)), False

    @admin.display(description="cluster", ordering="id")
    def cluster(self, cluster: Cluster) -> str:
        return f"#{cluster.id}"

    @admin.display(description="contacts")
    def contact_count(self, cluster: Cluster) -> int:
        return cluster.contact_count

    @admin.display(description="identifiers")
    def identifiers(self, cluster: Cluster) -> str:
        """Its distinct emails and phone numbers, in one column."""
        emails, phones = cluster.email_count, cluster.phone_count
        return f"{emails} email{pluralize(emails)}, {phones} phone{pluralize(phones)}"

    @admin.display(description="last activity")
    def last_activity(self, cluster: Cluster) -> datetime | None:
        return cluster.last_activity

    @reads_from_replica
    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        """The cluster page: its graph as a picture, its contacts, identifiers, link records,
        reasons, and its history in sentences.

        A cluster that has been merged away sends to the cluster its primary belongs to now.
        """
        if not self.has_view_permission(request):
            raise PermissionDenied
        contact_id = parse_row_id(object_id)
        if contact_id is None:
            raise Http404
        cluster = Cluster.objects.filter(pk=contact_id).first()
        if cluster is None:
            contact = get_object_or_404(Contact.live, pk=contact_id)
            self.message_user(
                request,
                f"#{contact.id} is no longer a primary: this is the cluster it belongs to now.",
                messages.WARNING,
            )
            return HttpResponseRedirect(cluster_url(contact.linked_id))
        detail = cluster_detail(primary_id=cluster.id)
        blocklist = current_policy(token=governance_token()).blocklist
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "contact_opts": Contact._meta,
            "title": f"Cluster #{cluster.id}",
            "subtitle": str(cluster),
            "cluster": detail,
            "graph": cluster_picture(
                contacts=detail.members,
                links=detail.links,
                primary_id=cluster.id,
                blocks=blocklist.blocks,
            ),
            "history": history_entries(events=detail.events),
            "can_correct": self.has_correct_permission(request),
            "can_soft_delete": self.has_soft_delete_permission(request),
            "erase_url": self.erase_url(request, cluster.id),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/contacts/erasure/cluster_detail.html", context)

    def get_urls(self) -> list[URLPattern]:
        name = f"{self.opts.app_label}_{self.opts.model_name}_data_quality"
        view = self.admin_site.admin_view(self.data_quality_view)
        return [path("data-quality/", view, name=name), *super().get_urls()]

    @reads_from_replica
    def data_quality_view(self, request: HttpRequest) -> HttpResponse:
        """Identities by size, as a chart, the identifiers the most contacts share (each marked
        if blocked already, with a link to block it for those who may), and the held merges of
        the last days: where a support lead looks for values that hold strangers together
        (docs/governance.md)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        blocks = current_policy(token=governance_token()).blocklist.blocks
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Data quality",
            "chart": size_chart(buckets=cluster_size_histogram()),
            "most_shared": {
                kind: [
                    (item, blocks(kind, item.value))
                    for item in most_shared_identifiers(kind=kind, limit=MOST_SHARED_LISTED)
                ]
                for kind in IDENTIFIER_FIELDS
            },
            "can_govern": has_govern_permission(request),
            "held_chart": held_merges_chart(days=held_merges_by_day(days=HELD_MERGE_DAYS)),
            "held_pending": held_merges_pending(),
            "can_view_held_merges": self.admin_site.get_model_admin(HeldMerge).has_view_permission(
                request
            ),
        }
        return TemplateResponse(request, "admin/contacts/cluster/data_quality.html", context)

    @admin.action(
        description="Re-run reconciliation for selected clusters", permissions=["correct"]
    )
    def reconcile_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        return reconcile_clusters_of(self, request, queryset)
