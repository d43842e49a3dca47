"""Erasure in the admin (docs/privacy.md): the "Erase…" action, link and page of contacts and
clusters, and the read-only record of every erasure.

Thin over ``contacts.services.erasure``: the page shows the dry run (``erasure_preview``) of each
chosen contact under both scopes, and confirming calls ``person_erase`` once per contact. Every
action, link and page needs ``contacts.erase_person``, a role of its own (``roles.PRIVACY``), never
part of the support roles. Nothing here shows or logs an email or a phone number: the page and
the messages name contacts by id and count what goes, and the admin log records the erasure
(whose name holds no personal data), never the contact (whose name is its values).
"""

from dataclasses import dataclass

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from contacts.admin.common import ReadOnlyMixin, ReplicaListMixin, redirect_with_ids
from contacts.exceptions import IdentityNotFound, ServiceError
from contacts.locking import LocksChanged
from contacts.models import ErasedIdentifier, Erasure, ErasureScope, Source
from contacts.normalize import parse_row_id
from contacts.selectors.privacy import ErasureSubject
from contacts.services.erasure import ErasurePreview, Requester, erasure_preview, person_erase

ERASE = f"{Erasure._meta.app_label}.erase_person"
VIEW_ERASURE = f"{Erasure._meta.app_label}.view_erasure"
# Contacts one page previews and erases: each costs two dry runs, and each erasure is final.
ERASED_AT_ONCE = 20

# What each of an erasure's counts names, singular and plural, in the order they are shown.
COUNT_NAMES = {
    "contacts": ("contact", "contacts"),
    "link_records": ("link record", "link records"),
    "history_events": ("history event", "history events"),
    "held_merges": ("held merge", "held merges"),
    "blocked_values": ("blocked value", "blocked values"),
    "admin_log_entries": ("admin log entry", "admin log entries"),
}

SCOPE_CHOICES = [
    (ErasureScope.IDENTIFIER, "Only this contact's identifiers"),
    (ErasureScope.IDENTITY, "The whole identity"),
]
SCOPE_HELP = (
    "The whole identity: every contact of its cluster, soft-deleted ones included, and every "
    "contact carrying one of their emails or phone numbers. Only its identifiers: the contacts "
    "carrying its email or phone number; the rest of the identity stays, and splits if they "
    "held it together."
)
SCOPE_SHORT = {ErasureScope.IDENTITY: "whole identity", ErasureScope.IDENTIFIER: "identifiers only"}


def has_erase_permission(request: HttpRequest) -> bool:
    return request.user.has_perm(ERASE)


def has_erasure_view_permission(request: HttpRequest) -> bool:
    """Erasure records are read by whoever may erase, or has the model's view permission."""
    return request.user.has_perm(VIEW_ERASURE) or has_erase_permission(request)


def ids_text(ids: list[int]) -> str:
    """``#7, #9``, or ``none``."""
    return ", ".join(f"#{contact_id}" for contact_id in ids) or "none"


def counts_text(counts: dict[str, int]) -> str:
    """``3 contacts, 1 link record, 4 history events``: the contacts always, other counts when
    not zero."""
    parts = []
    for key, (singular, plural) in COUNT_NAMES.items():
        count = counts.get(key, 0)
        if count or key == "contacts":
            parts.append(f"{count} {singular if count == 1 else plural}")
    return ", ".join(parts)


class ErasureForm(forms.Form):
    """What the staff member decides on the erase page; the contacts are in the page's URL."""

    scope = forms.ChoiceField(
        choices=SCOPE_CHOICES,
        initial=ErasureScope.IDENTIFIER,
        widget=forms.RadioSelect,
        help_text=SCOPE_HELP,
    )
    reason = forms.CharField(
        max_length=Erasure._meta.get_field("reason").max_length,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Why, as the request named it (kept with the record); write no email or "
        "phone number here.",
    )
    suppress = forms.BooleanField(
        required=False,
        label="Suppress",
        help_text="Keep a keyed hash of each erased email and phone number, so that a later "
        "request carrying one is refused instead of stored again.",
    )


@dataclass(frozen=True)
class PreviewRow:
    """One scope's dry run for one chosen contact, as the page's table shows it."""

    scope: str
    preview: ErasurePreview

    @property
    def scope_label(self) -> str:
        return SCOPE_SHORT[self.scope]

    @property
    def soft_deleted(self) -> int:
        return len(self.preview.contact_ids) - len(self.preview.live_contact_ids)

    @property
    def before(self) -> str:
        return ids_text(self.preview.primary_ids_before)

    @property
    def after(self) -> str:
        return ids_text(self.preview.primary_ids_after)


@dataclass(frozen=True)
class Candidate:
    """A chosen contact and what erasing it would do under each scope."""

    contact_id: int
    rows: list[PreviewRow]


class ErasureActionsMixin:
    """The "Erase…" action, the change page's link (``erase_url``) and the erase page of the
    contacts' and the clusters' admins. A cluster is erased through its primary contact."""

    def has_erase_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return has_erase_permission(request)

    def erase_url(self, request: HttpRequest, object_id: int) -> str | None:
        """The erase page of one contact or cluster, for those who may erase."""
        if not self.has_erase_permission(request):
            return None
        return reverse(f"admin:{self._erase_url_name('erase')}", args=[object_id])

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.erase_view)
        return [
            path("<int:object_id>/erase/", view, name=self._erase_url_name("erase")),
            path("erase/", view, name=self._erase_url_name("erase_selected")),
            *super().get_urls(),
        ]

    @admin.action(description="Erase selected %(verbose_name_plural)s…", permissions=["erase"])
    def erase_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        return redirect_with_ids(f"admin:{self._erase_url_name('erase_selected')}", queryset)

    def erase_view(self, request: HttpRequest, object_id: int | None = None) -> HttpResponse:
        """The preview of erasing the chosen contacts (``<id>/erase/``, or ``erase/?ids=``), the
        scope, reason and suppression, then ``person_erase`` for each on confirmation."""
        if not self.has_erase_permission(request):
            raise PermissionDenied
        if object_id is not None:
            contact_ids = [get_object_or_404(self.get_queryset(request), pk=object_id).pk]
        else:
            contact_ids = self._erase_selection(request)
        too_many = len(contact_ids) > ERASED_AT_ONCE
        form = ErasureForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and contact_ids and not too_many and form.is_valid():
            return self._erase(
                request,
                contact_ids=contact_ids,
                scope=ErasureScope(form.cleaned_data["scope"]),
                reason=form.cleaned_data["reason"],
                suppress=form.cleaned_data["suppress"],
            )
        candidates = [] if too_many else _candidates(contact_ids=contact_ids)
        if len(contact_ids) == 1:
            title = f"Erase {self.opts.verbose_name} #{contact_ids[0]}?"
        else:
            title = f"Erase {len(contact_ids)} {self.opts.verbose_name_plural}?"
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "form": form,
            "candidates": candidates,
            "too_many": too_many,
            "limit": ERASED_AT_ONCE,
            "selected_ids": [] if object_id is not None else contact_ids,
        }
        return TemplateResponse(request, "admin/contacts/erasure/erase.html", context)

    def _erase_url_name(self, page: str) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_{page}"

    def _erase_selection(self, request: HttpRequest) -> list[int]:
        data = request.POST if request.method == "POST" else request.GET
        parsed = (parse_row_id(contact_id) for contact_id in data.getlist("ids"))
        wanted = [contact_id for contact_id in parsed if contact_id is not None]
        return list(
            self.get_queryset(request)
            .filter(pk__in=wanted)
            .order_by("pk")
            .values_list("pk", flat=True)
        )

    def _erase(
        self,
        request: HttpRequest,
        *,
        contact_ids: list[int],
        scope: ErasureScope,
        reason: str,
        suppress: bool,
    ) -> HttpResponse:
        """Erase each contact in turn; one whose erasure went with an earlier one's is skipped.
        Messages and the admin log name erasures, ids and counts only."""
        requester = Requester(
            source=Source.ADMIN, name=request.user.get_username(), user=request.user
        )
        erasures: list[Erasure] = []
        erased_by: dict[int, int] = {}
        for contact_id in contact_ids:
            if contact_id in erased_by:
                self.message_user(
                    request,
                    f"#{contact_id}: erased with erasure #{erased_by[contact_id]} already.",
                    messages.INFO,
                )
                continue
            try:
                erasure = person_erase(
                    subject=ErasureSubject(scope=scope, contact_id=contact_id),
                    reason=reason,
                    requester=requester,
                    suppress=suppress,
                )
            except (ServiceError, LocksChanged) as error:
                self.message_user(request, f"#{contact_id} not erased: {error}", messages.ERROR)
                continue
            erased_by.update(dict.fromkeys(erasure.contact_ids, erasure.pk))
            erasures.append(erasure)
            self.log_addition(request, erasure, f"Erased contacts {ids_text(erasure.contact_ids)}.")
            self.message_user(
                request,
                f"{erasure}: erased {counts_text(erasure.counts)}"
                f"{'; its values are suppressed' if erasure.suppress else ''}. "
                f"Identities left: {ids_text(erasure.primary_ids)}.",
            )
        if not erasures:
            return HttpResponseRedirect(reverse(f"admin:{self._erase_url_name('changelist')}"))
        if len(erasures) == 1:
            return HttpResponseRedirect(
                reverse("admin:contacts_erasure_change", args=[erasures[0].pk])
            )
        ids = ",".join(str(erasure.pk) for erasure in erasures)
        return HttpResponseRedirect(f"{reverse('admin:contacts_erasure_changelist')}?id__in={ids}")


def _candidates(*, contact_ids: list[int]) -> list[Candidate]:
    """Both scopes' dry runs for each contact; one gone meanwhile is left out."""
    candidates = []
    for contact_id in contact_ids:
        try:
            rows = [
                PreviewRow(
                    scope=scope,
                    preview=erasure_preview(
                        subject=ErasureSubject(scope=scope, contact_id=contact_id)
                    ),
                )
                for scope, _ in SCOPE_CHOICES
            ]
        except IdentityNotFound:
            continue
        candidates.append(Candidate(contact_id=contact_id, rows=rows))
    return candidates


class ErasureViewMixin:
    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return has_erasure_view_permission(request)


class ErasedIdentifierInline(ErasureViewMixin, admin.TabularInline):
    """The erased values of one erasure, as keyed hashes: the ledger, read-only."""

    model = ErasedIdentifier
    fields = ["kind", "digest", "contacts", "suppress", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(Erasure)
class ErasureAdmin(ErasureViewMixin, ReadOnlyMixin, ReplicaListMixin, admin.ModelAdmin):
    """The erasures made, by anyone (admin, API, command): read-only, with no personal data."""

    list_display = [
        "id",
        "created_at",
        "scope",
        "subject",
        "requested_by",
        "reason",
        "suppress",
        "counts_summary",
    ]
    list_filter = ["scope", "source", "suppress"]
    search_fields = ["=id", "=subject_contact_id", "requested_by"]
    search_help_text = "An erasure's id, the id of the contact it named, or who asked."
    show_facets = admin.ShowFacets.NEVER
    fields = [
        "created_at",
        "scope",
        "subject",
        "subject_contact_id",
        "reason",
        "source",
        "requested_by",
        "user",
        "request_id",
        "suppress",
        "replayed",
        "counts_summary",
        "erased_contacts",
        "identities_left",
    ]
    readonly_fields = fields
    inlines = [ErasedIdentifierInline]
    actions = None

    @admin.display(description="erased")
    def counts_summary(self, erasure: Erasure) -> str:
        return counts_text(erasure.counts)

    @admin.display(description="erased contacts")
    def erased_contacts(self, erasure: Erasure) -> str:
        return ids_text(erasure.contact_ids)

    @admin.display(description="identities left")
    def identities_left(self, erasure: Erasure) -> str:
        return ids_text(erasure.primary_ids)
