"""Webhooks in the admin (docs/events.md): the endpoints, their deliveries, and the identity
events delivered.

Thin over ``contacts.services.webhooks``: adding an endpoint calls ``webhook_endpoint_create``,
which makes the signing secret, shown once in the message after saving (as an API key is) and
masked ever after; a change calls ``webhook_endpoint_change``; the "Enable" and "Disable" actions
call ``webhook_endpoint_enable``, and
"Redeliver" ``deliveries_redeliver``. Deliveries and events are read-only: the worker writes them.
An endpoint is disabled, never deleted here: its deliveries are the record of what was sent.
Nothing here shows an email or a phone number: events carry ids only.
"""

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.validators import URLValidator
from django.db.models import Count, IntegerField, Model, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator
from django.utils.translation import ngettext

from contacts.admin.common import ReadOnlyMixin, ReplicaListMixin
from contacts.admin.sentences import timestamp
from contacts.models import DeliveryStatus, OutboxEvent, WebhookDelivery, WebhookEndpoint
from contacts.normalize import parse_row_id
from contacts.rules.events import ALL_EVENT_TYPES
from contacts.services.webhooks import (
    SECRET_PREFIX,
    deliveries_redeliver,
    delivery_body,
    webhook_endpoint_change,
    webhook_endpoint_create,
    webhook_endpoint_enable,
)

REDELIVER = f"{WebhookDelivery._meta.app_label}.change_webhookdelivery"
EVENT_PREFIX = "evt_"
# The start of a delivery's last error that its list row shows.
LIST_ERROR_CHARS = 40


def event_label(event_id: int) -> str:
    return f"{EVENT_PREFIX}{event_id}"


def json_block(value: Any) -> SafeString:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False))


def ids_search(
    queryset: QuerySet, *, term: str, event_field: str, number_fields: list[str]
) -> QuerySet:
    """``evt_12`` finds event 12 by ``event_field``; a number alone (``12`` or ``#12``) finds
    that id in any of ``number_fields``; anything else finds nothing. Each is an exact match, so
    an index look-up."""
    text = term.strip()
    if text.startswith(EVENT_PREFIX):
        number, fields = parse_row_id(text.removeprefix(EVENT_PREFIX)), [event_field]
    else:
        number, fields = parse_row_id(text.removeprefix("#")), number_fields
    if number is None:
        return queryset.none()
    query = Q()
    for field in fields:
        query |= Q(**{field: number})
    return queryset.filter(query)


class IdsSearchMixin:
    """Search by event and identity ids (``ids_search``); ``search_fields`` only shows the box."""

    event_field = "id"
    number_fields = ["identity_id"]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        if not search_term.strip():
            return queryset, False
        found = ids_search(
            queryset,
            term=search_term,
            event_field=self.event_field,
            number_fields=self.number_fields,
        )
        return found, False


class EventTypeFilter(admin.SimpleListFilter):
    """The known event types, from ``ALL_EVENT_TYPES``: Django's filter of a field would read
    them from the events, a DISTINCT over the whole table on every page."""

    title = "event type"
    parameter_name = "type"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [(event_type, event_type) for event_type in ALL_EVENT_TYPES]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() is None:
            return queryset
        if self.value() not in ALL_EVENT_TYPES:
            return queryset.none()
        return queryset.filter(type=self.value())


class EndpointFilter(admin.SimpleListFilter):
    """The endpoints, by id; a value that cannot be an id finds nothing (Django's filter of a
    foreign key would send it to the database as it is)."""

    title = "endpoint"
    parameter_name = "endpoint"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple]:
        return [(endpoint.pk, str(endpoint)) for endpoint in WebhookEndpoint.objects.all()]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() is None:
            return queryset
        endpoint_id = parse_row_id(self.value())
        if endpoint_id is None:
            return queryset.none()
        return queryset.filter(endpoint_id=endpoint_id)


# --- Endpoints ---------------------------------------------------------------------------------


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(
        label="URL",
        max_length=WebhookEndpoint._meta.get_field("url").max_length,
        assume_scheme="https",
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="Where events are POSTed: an http or https URL.",
    )
    event_types = forms.MultipleChoiceField(
        choices=[(event_type, event_type) for event_type in ALL_EVENT_TYPES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every type, those added later included.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "event_types", "enabled"]

    def clean_event_types(self) -> list[str]:
        return sorted(set(self.cleaned_data["event_types"]))


def deliveries_counted(status: DeliveryStatus) -> Coalesce:
    """The number of an endpoint's deliveries with ``status``, as a subquery per endpoint: the
    pending ones are read through the partial index of pending deliveries."""
    count = (
        WebhookDelivery.objects.filter(endpoint=OuterRef("pk"), status=status)
        .order_by()
        .values("endpoint")
        .annotate(count=Count("id"))
        .values("count")
    )
    return Coalesce(Subquery(count, output_field=IntegerField()), 0)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = [
        "id",
        "url",
        "enabled",
        "event_type_list",
        "created_at",
        "pending_deliveries",
        "dead_deliveries",
    ]
    list_display_links = ["id", "url"]
    list_filter = ["enabled"]
    readonly_fields = ["secret_hint", "created_at"]
    actions = ["disable_selected", "enable_selected"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .annotate(
                pending_count=deliveries_counted(DeliveryStatus.PENDING),
                dead_count=deliveries_counted(DeliveryStatus.DEAD),
            )
        )

    def get_fields(self, request: HttpRequest, obj: WebhookEndpoint | None = None) -> list[str]:
        if obj is None:
            return ["url", "description", "event_types"]
        return ["url", "description", "event_types", "enabled", "secret_hint", "created_at"]

    def has_delete_permission(
        self, request: HttpRequest, obj: WebhookEndpoint | None = None
    ) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: WebhookEndpoint, form: WebhookEndpointForm, change: bool
    ) -> None:
        """A new endpoint is made by the service, which makes its secret, shown here once."""
        if change:
            webhook_endpoint_change(
                endpoint=obj,
                url=form.cleaned_data["url"],
                description=form.cleaned_data["description"],
                event_types=form.cleaned_data["event_types"],
                enabled=form.cleaned_data["enabled"],
            )
            return
        obj.pk = webhook_endpoint_create(
            url=form.cleaned_data["url"],
            event_types=form.cleaned_data["event_types"],
            description=form.cleaned_data["description"],
        ).pk
        obj.refresh_from_db()
        self.message_user(
            request,
            f"The signing secret of {obj}, shown only this once (give it to the receiver now, "
            f"to verify the signatures): {obj.secret}",
            messages.WARNING,
        )

    @admin.display(description="event types")
    def event_type_list(self, endpoint: WebhookEndpoint) -> str:
        return ", ".join(endpoint.event_types) or "all"

    @admin.display(description="pending")
    def pending_deliveries(self, endpoint: WebhookEndpoint) -> SafeString:
        return self._deliveries_link(endpoint, status=DeliveryStatus.PENDING)

    @admin.display(description="dead letters")
    def dead_deliveries(self, endpoint: WebhookEndpoint) -> SafeString:
        return self._deliveries_link(endpoint, status=DeliveryStatus.DEAD)

    @admin.display(description="signing secret")
    def secret_hint(self, endpoint: WebhookEndpoint) -> str:
        return f"{SECRET_PREFIX}…{endpoint.secret[-4:]}"

    @admin.action(description="Disable selected webhook endpoints", permissions=["change"])
    def disable_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._enable_each(request, queryset, enabled=False)

    @admin.action(description="Enable selected webhook endpoints", permissions=["change"])
    def enable_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._enable_each(request, queryset, enabled=True)

    def _enable_each(self, request: HttpRequest, queryset: QuerySet, *, enabled: bool) -> None:
        done = "Enabled" if enabled else "Disabled"
        endpoints = [
            endpoint for endpoint in queryset.order_by("id") if endpoint.enabled != enabled
        ]
        for endpoint in endpoints:
            webhook_endpoint_enable(endpoint=endpoint, enabled=enabled)
            self.log_change(request, endpoint, f"{done}.")
        if not endpoints:
            self.message_user(request, f"{done} already: nothing changed.", messages.WARNING)
            return
        ids = ", ".join(f"#{endpoint.pk}" for endpoint in endpoints)
        self.message_user(request, f"{done} webhook endpoints {ids}.")

    def _deliveries_link(self, endpoint: WebhookEndpoint, *, status: DeliveryStatus) -> SafeString:
        """The count, linked to the list of those deliveries."""
        count = endpoint.pending_count if status == DeliveryStatus.PENDING else endpoint.dead_count
        url = reverse("admin:contacts_webhookdelivery_changelist")
        return format_html(
            '<a href="{}?endpoint={}&amp;status__exact={}">{}</a>',
            url,
            endpoint.pk,
            status,
            count,
        )


# --- Deliveries --------------------------------------------------------------------------------


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(IdsSearchMixin, ReadOnlyMixin, ReplicaListMixin, admin.ModelAdmin):
    """Every event sent, or to send, to each endpoint; read-only but for "Redeliver"."""

    list_display = [
        "id",
        "event",
        "identity",
        "endpoint",
        "status",
        "attempts_made",
        "when",
    ]
    list_filter = ["status", EndpointFilter]
    list_select_related = ["event", "endpoint"]
    search_fields = ["=event_id", "=identity_id"]
    search_help_text = "An event's id (evt_12); a number alone also finds the identity of that id."
    event_field = "event_id"
    number_fields = ["event_id", "identity_id"]
    show_facets = admin.ShowFacets.NEVER
    show_full_result_count = False
    ordering = ["-id"]
    sortable_by = ["id"]
    fields = [
        "event_name",
        "event_type",
        "identity",
        "endpoint",
        "status",
        "attempts",
        "created_at",
        "next_attempt_at",
        "leased_until",
        "last_attempt_at",
        "last_status_code",
        "last_error",
        "delivered_at",
        "payload",
    ]
    readonly_fields = fields
    actions = ["redeliver_selected"]

    def has_redeliver_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return request.user.has_perm(REDELIVER)

    @admin.display(description="event")
    def event_name(self, delivery: WebhookDelivery) -> str:
        return event_label(delivery.event_id)

    @admin.display(description="event type")
    def event_type(self, delivery: WebhookDelivery) -> str:
        return delivery.event.type

    @admin.display(description="event")
    def event(self, delivery: WebhookDelivery) -> SafeString:
        return format_html("{}<br>{}", event_label(delivery.event_id), delivery.event.type)

    @admin.display(description="attempts")
    def attempts_made(self, delivery: WebhookDelivery) -> str:
        """The count and how the last one ended; the whole error is on the delivery's page."""
        last = [str(code) for code in [delivery.last_status_code] if code is not None]
        if delivery.last_error:
            last.append(Truncator(delivery.last_error).chars(LIST_ERROR_CHARS))
        return " · ".join([str(delivery.attempts), *last])

    @admin.display(description="delivered or next attempt")
    def when(self, delivery: WebhookDelivery) -> SafeString | str:
        if delivery.delivered_at is not None:
            return format_html("delivered {}", timestamp(delivery.delivered_at))
        if delivery.status == DeliveryStatus.PENDING and delivery.next_attempt_at is not None:
            return format_html("next {}", timestamp(delivery.next_attempt_at))
        return "—"

    @admin.display(description="identity")
    def identity(self, delivery: WebhookDelivery) -> str:
        return f"#{delivery.identity_id}"

    @admin.display(description="payload (the body sent)")
    def payload(self, delivery: WebhookDelivery) -> SafeString:
        return json_block(json.loads(delivery_body(delivery=delivery)))

    @admin.action(description="Redeliver selected webhook deliveries", permissions=["redeliver"])
    def redeliver_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Dead letters (and delivered ones) are sent again from now; pending ones are skipped."""
        selected = list(queryset.select_related(None).only("id"))
        count = deliveries_redeliver(deliveries=selected)
        message = ngettext(
            "%(count)d delivery will be sent again.",
            "%(count)d deliveries will be sent again.",
            count,
        ) % {"count": count}
        skipped = len(selected) - count
        if skipped:
            message += " " + ngettext(
                "%(count)d delivery was pending already.",
                "%(count)d deliveries were pending already.",
                skipped,
            ) % {"count": skipped}
        self.message_user(request, message)


# --- Identity events ---------------------------------------------------------------------------


@admin.register(OutboxEvent)
class OutboxEventAdmin(IdsSearchMixin, ReadOnlyMixin, ReplicaListMixin, admin.ModelAdmin):
    """The sequenced identity events, as webhooks and the feed serve them: read-only."""

    list_display = ["id", "type", "identity", "sequence", "occurred_at", "data_json"]
    list_filter = [EventTypeFilter]
    search_fields = ["=identity_id"]
    search_help_text = "An identity's id: its events; or an event's id (evt_12)."
    show_facets = admin.ShowFacets.NEVER
    show_full_result_count = False
    ordering = ["-id"]
    sortable_by = ["id"]
    fields = [
        "event_name",
        "type",
        "identity",
        "sequence",
        "streams",
        "occurred_at",
        "created_at",
        "history_id",
        "data_json",
    ]
    readonly_fields = fields
    actions = None

    @admin.display(description="event")
    def event_name(self, event: OutboxEvent) -> str:
        return event_label(event.id)

    @admin.display(description="identity")
    def identity(self, event: OutboxEvent) -> str:
        return f"#{event.identity_id}"

    @admin.display(description="data")
    def data_json(self, event: OutboxEvent) -> SafeString:
        return json_block(event.data)
