"""Identifier governance (docs/governance.md): blocked identifiers, the queue of held merges, and
the raised limits approved from it.

Only ``contacts.services.governance`` and ``contacts.services.held_merges`` write these. Blocking
and unblocking are corrections: Django's add and delete views are replaced by pages that preview
what splits or merges, as Django's delete confirmation does, before calling the service; an entry
is never changed (block a new one, unblock the old). Held merges are decided by admin actions.
Every page and action needs ``contacts.govern_identifiers``, which no support role has.
"""

from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import ngettext

from contacts.admin.common import (
    IdentifierSearchMixin,
    ReadOnlyMixin,
    ReplicaListMixin,
    cluster_url,
    describe_result,
)
from contacts.admin.sentences import timestamp
from contacts.exceptions import ServiceError
from contacts.forms import BlockedIdentifierForm
from contacts.models import (
    BlockedIdentifier,
    ClusterLimit,
    HeldMerge,
    HeldMergeKind,
    HeldMergeStatus,
    IdentifierKind,
    MatchType,
)
from contacts.normalize import parse_row_id
from contacts.selectors.governance import GovernancePreview, governance_preview
from contacts.services.governance import identifier_block, identifier_unblock
from contacts.services.held_merges import held_merge_approve, held_merge_reject

GOVERN = f"{BlockedIdentifier._meta.app_label}.govern_identifiers"
# Stored values a preview names; a pattern may match thousands.
VALUES_LISTED = 20


def has_govern_permission(request: HttpRequest) -> bool:
    return request.user.has_perm(GOVERN)


def block_url(*, kind: str, value: str, held: HeldMerge | None = None) -> str:
    """The page that blocks ``value`` exactly, prefilled; with ``held``, the block rejects it."""
    query = {"kind": kind, "match": MatchType.EXACT, "value": value}
    if held is not None:
        query["held"] = held.pk
    return f"{reverse('admin:contacts_blockedidentifier_add')}?{urlencode(query)}"


def cluster_link(primary_id: int) -> SafeString:
    return format_html('<a href="{}">#{}</a>', cluster_url(primary_id), primary_id)


class GovernanceMixin:
    """Who may govern: the check of every page and action (``permissions=["govern"]``). Viewing
    needs the model's view permission, or the governance permission."""

    def has_govern_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return has_govern_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_view_permission(request, obj) or has_govern_permission(request)


@admin.register(BlockedIdentifier)
class BlockedIdentifierAdmin(GovernanceMixin, admin.ModelAdmin):
    """The blocklist; adding and deleting (unblocking) are the pages of ``add_view`` and
    ``delete_view``, each a preview and a confirmation."""

    list_display = ["kind", "match", "value", "reason", "added_by", "created_at"]
    list_filter = ["kind", "match"]
    list_select_related = ["added_by"]
    search_fields = ["value"]
    search_help_text = "Part of a value or a pattern."
    fields = list_display
    readonly_fields = list_display
    # Django's "delete selected" would delete rows without unblocking them.
    actions = None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return has_govern_permission(request)

    def has_change_permission(
        self, request: HttpRequest, obj: BlockedIdentifier | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: BlockedIdentifier | None = None
    ) -> bool:
        return has_govern_permission(request)

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        """Block: the form (prefilled from the query string), then a preview of the splits with
        a confirm button, then the service. ``held`` names a held merge the block rejects."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        data = request.POST if request.method == "POST" else request.GET
        held = _pending_held_merge(data.get("held", ""))
        if request.method != "POST":
            initial = {name: data[name] for name in ("kind", "match", "value") if name in data}
            return self._block_form(request, form=BlockedIdentifierForm(initial=initial), held=held)
        form = BlockedIdentifierForm(request.POST)
        if not form.is_valid():
            return self._block_form(request, form=form, held=held)
        if "confirm" not in request.POST:
            if not self.get_queryset(request).filter(**_entry_of(form)).exists():
                return self._block_preview(request, form=form, held=held)
            form.add_error(None, "This value is blocked already.")
            return self._block_form(request, form=form, held=held)
        try:
            result = identifier_block(
                **_entry_of(form), reason=form.cleaned_data["reason"], user=request.user
            )
        except ServiceError as error:
            form.add_error(None, str(error))
            return self._block_form(request, form=form, held=held)
        self.log_addition(request, result.entry, f"Blocked: {result.entry.reason}")
        message = f"Blocked {result.entry}. {describe_result(result.reconciled)}"
        if held is not None:
            held_merge_reject(held=held, never_link=False, user=request.user)
            message += f" Held merge #{held.pk} rejected."
        self.message_user(request, message)
        return HttpResponseRedirect(reverse("admin:contacts_blockedidentifier_changelist"))

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict | None = None
    ) -> HttpResponse:
        """Unblock: a preview of the merges (and of identities it takes past the size limit),
        then the service."""
        if not self.has_delete_permission(request):
            raise PermissionDenied
        entry = get_object_or_404(self.get_queryset(request), pk=parse_row_id(object_id))
        if request.method == "POST":
            try:
                result = identifier_unblock(entry=entry, user=request.user)
            except ServiceError as error:
                self.message_user(request, f"{entry}: {error}", messages.ERROR)
            else:
                self.log_deletions(request, [entry])
                self.message_user(
                    request, f"Unblocked {entry}. {describe_result(result.reconciled)}"
                )
                return HttpResponseRedirect(reverse("admin:contacts_blockedidentifier_changelist"))
        preview = governance_preview(
            kind=entry.kind, match=entry.match, value=entry.value, block=False
        )
        context = {
            **self._context(request, title=f"Unblock {entry}?"),
            **_preview_context(preview),
            "object": entry,
            "limit": settings.IDENTITY_MAX_CLUSTER_SIZE,
        }
        return TemplateResponse(
            request, "admin/contacts/blockedidentifier/unblock_confirmation.html", context
        )

    def _block_form(
        self, request: HttpRequest, *, form: BlockedIdentifierForm, held: HeldMerge | None
    ) -> TemplateResponse:
        context = {
            **self._context(request, title="Block an identifier"),
            "form": form,
            "held": held,
        }
        return TemplateResponse(
            request, "admin/contacts/blockedidentifier/block_form.html", context
        )

    def _block_preview(
        self, request: HttpRequest, *, form: BlockedIdentifierForm, held: HeldMerge | None
    ) -> TemplateResponse:
        entry = BlockedIdentifier(**_entry_of(form))
        context = {
            **self._context(request, title=f"Block {entry}?"),
            "entry": entry,
            "form": form,
            "held": held,
            **_preview_context(governance_preview(**_entry_of(form), block=True)),
        }
        return TemplateResponse(
            request, "admin/contacts/blockedidentifier/block_confirmation.html", context
        )

    def _context(self, request: HttpRequest, *, title: str) -> dict:
        return {**self.admin_site.each_context(request), "opts": self.opts, "title": title}


def _entry_of(form: BlockedIdentifierForm) -> dict[str, str]:
    return {name: form.cleaned_data[name] for name in ("kind", "match", "value")}


def _preview_context(preview: GovernancePreview) -> dict:
    return {
        "preview": preview,
        "values_shown": preview.values[:VALUES_LISTED],
        "values_more": max(len(preview.values) - VALUES_LISTED, 0),
    }


def _pending_held_merge(held_id: str) -> HeldMerge | None:
    """The held merge a block was started from, if it still waits for a decision."""
    return HeldMerge.objects.filter(
        pk=parse_row_id(held_id), status=HeldMergeStatus.PENDING
    ).first()


class HeldMergeStatusFilter(admin.SimpleListFilter):
    """The queue opens on the pending held merges; "All" shows every decision too."""

    title = "status"
    parameter_name = "status"
    ALL = "all"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [*HeldMergeStatus.choices, (self.ALL, "All")]

    def value(self) -> str:
        return super().value() or HeldMergeStatus.PENDING

    def choices(self, changelist) -> list[dict]:
        return [
            {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }
            for lookup, title in self.lookup_choices
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == self.ALL:
            return queryset
        return queryset.filter(status=self.value())


@admin.register(HeldMerge)
class HeldMergeAdmin(
    GovernanceMixin, IdentifierSearchMixin, ReadOnlyMixin, ReplicaListMixin, admin.ModelAdmin
):
    """The queue of writes the supercluster guard held; each action decides the pending ones
    selected through ``services.held_merges``."""

    list_display = [
        "id",
        "held",
        "email",
        "phone_number",
        "size_of_limit",
        "seen",
        "status",
    ]
    list_filter = [HeldMergeStatusFilter, "kind"]
    show_facets = admin.ShowFacets.NEVER
    fields = [
        "kind",
        "primary_id",
        "other_primary_ids",
        "email",
        "phone_number",
        "size",
        "limit",
        "occurrences",
        "first_seen_at",
        "last_seen_at",
        "status",
        "never_link",
        "decided_by",
        "decided_at",
    ]
    readonly_fields = fields
    actions = [
        "approve_selected",
        "approve_raising_limit_selected",
        "reject_never_link_selected",
        "reject_blocking_email",
        "reject_blocking_phone_number",
        "dismiss_selected",
    ]

    @admin.display(description="held", ordering="kind")
    def held(self, held: HeldMerge) -> SafeString:
        """What the write would have done, to which identities (their primaries)."""
        primary = cluster_link(held.primary_id)
        if not held.other_primary_ids:
            return format_html("a new contact in {}", primary)
        others = format_html_join(", ", "{}", ((cluster_link(i),) for i in held.other_primary_ids))
        return format_html("merge of {} with {}", primary, others)

    @admin.display(description="size of limit", ordering="size")
    def size_of_limit(self, held: HeldMerge) -> str:
        return f"{held.size} of {held.limit}"

    @admin.display(description="seen", ordering="last_seen_at")
    def seen(self, held: HeldMerge) -> SafeString:
        times = ngettext("%(count)d time", "%(count)d times", held.occurrences) % {
            "count": held.occurrences
        }
        return format_html("{}, last {}", times, timestamp(held.last_seen_at))

    @admin.action(description="Approve: apply the merge", permissions=["govern"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._approve_each(request, queryset, raise_limit=False)

    @admin.action(
        description="Approve and raise the identity's limit to fit", permissions=["govern"]
    )
    def approve_raising_limit_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._approve_each(request, queryset, raise_limit=True)

    @admin.action(description="Reject: never link this pair", permissions=["govern"])
    def reject_never_link_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        """A growth adds a contact to one identity: there is no pair of identities to keep
        apart, so only merges are rejected this way."""
        for held in queryset.filter(kind=HeldMergeKind.GROWTH).order_by("id"):
            self.message_user(
                request,
                f"Held merge #{held.pk} skipped: it adds a new contact to one identity, so there "
                "is no pair of identities to keep apart. Dismiss it, or block one of its values.",
                messages.WARNING,
            )

        def reject(held: HeldMerge) -> str:
            held_merge_reject(held=held, never_link=True, user=request.user)
            return f"rejected: {held.email} and {held.phone_number} never link two identities."

        self._decide_each(request, queryset.filter(kind=HeldMergeKind.MERGE), decide=reject)

    @admin.action(description="Reject and block the email…", permissions=["govern"])
    def reject_blocking_email(
        self, request: HttpRequest, queryset: QuerySet
    ) -> HttpResponse | None:
        return self._block_one(request, queryset, kind=IdentifierKind.EMAIL, field="email")

    @admin.action(description="Reject and block the phone number…", permissions=["govern"])
    def reject_blocking_phone_number(
        self, request: HttpRequest, queryset: QuerySet
    ) -> HttpResponse | None:
        return self._block_one(request, queryset, kind=IdentifierKind.PHONE, field="phone_number")

    @admin.action(description="Dismiss (reject, no rule)", permissions=["govern"])
    def dismiss_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        def dismiss(held: HeldMerge) -> str:
            held_merge_reject(held=held, never_link=False, user=request.user)
            return "dismissed: no rule was added."

        self._decide_each(request, queryset, decide=dismiss)

    def _approve_each(self, request: HttpRequest, queryset: QuerySet, *, raise_limit: bool) -> None:
        def approve(held: HeldMerge) -> str:
            identity = held_merge_approve(held=held, raise_limit=raise_limit, user=request.user)
            size = 1 + len(identity.secondary_ids)
            done = f"applied: identity #{identity.primary_id} now has {size} contacts."
            if not raise_limit:
                return done
            limit = ClusterLimit.objects.get(contact_id=identity.primary_id).max_size
            return f"{done} It may grow to {limit}."

        self._decide_each(request, queryset, decide=approve)

    def _decide_each(
        self,
        request: HttpRequest,
        queryset: QuerySet,
        *,
        decide: Callable[[HeldMerge], str],
    ) -> None:
        """Apply ``decide`` to each selected held merge that is pending, one message each; a
        service error is that held merge's message, and the others are still decided."""
        for held in queryset.order_by("id"):
            if held.status != HeldMergeStatus.PENDING:
                self.message_user(
                    request,
                    f"Held merge #{held.pk} is {held.get_status_display().lower()} already: "
                    "skipped.",
                    messages.WARNING,
                )
                continue
            try:
                done = decide(held)
            except ServiceError as error:
                self.message_user(
                    request, f"Held merge #{held.pk} not decided: {error}", messages.ERROR
                )
                continue
            self.log_change(request, held, f"Decided: {held.get_status_display()}.")
            self.message_user(request, f"Held merge #{held.pk} {done}")

    def _block_one(
        self, request: HttpRequest, queryset: QuerySet, *, kind: IdentifierKind, field: str
    ) -> HttpResponse | None:
        """Send to the block page, prefilled with the one selected pending held merge's value."""
        selected = list(queryset[:2])
        if len(selected) != 1 or selected[0].status != HeldMergeStatus.PENDING:
            self.message_user(
                request,
                f"Select one pending held merge to block its {kind.label.lower()}.",
                messages.WARNING,
            )
            return None
        [held] = selected
        return HttpResponseRedirect(block_url(kind=kind, value=getattr(held, field), held=held))


@admin.register(ClusterLimit)
class ClusterLimitAdmin(GovernanceMixin, ReadOnlyMixin, admin.ModelAdmin):
    """Raised limits, each set by approving a held merge: read-only."""

    list_display = ["identity", "max_size", "held_merge", "set_by", "created_at"]
    list_select_related = ["held_merge", "set_by"]
    actions = None

    @admin.display(description="identity of")
    def identity(self, limit: ClusterLimit) -> SafeString:
        return cluster_link(limit.contact_id)
