"""Webhooks in the admin (docs/events.md, docs/admin.md): endpoints added through the service with
their secret shown once, enabled and disabled; deliveries listed in a bounded number of queries
and redelivered; the identity events read-only; and who may do it.

Events are made as in production: by POSTing /identify/, then running the sequencer.
"""

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from contacts.models import DeliveryStatus, OutboxEvent, WebhookDelivery, WebhookEndpoint
from contacts.roles import CORRECTIONS, GOVERNANCE, INTEGRATIONS, PRIVACY, READ_ONLY
from contacts.services.events import events_sequence
from contacts.services.webhooks import webhook_endpoint_create

pytestmark = pytest.mark.django_db

ENDPOINTS = reverse("admin:contacts_webhookendpoint_changelist")
ADD = reverse("admin:contacts_webhookendpoint_add")
DELIVERIES = reverse("admin:contacts_webhookdelivery_changelist")
EVENTS = reverse("admin:contacts_outboxevent_changelist")

EMAIL = "lorraine@hillvalley.edu"
OTHER_EMAIL = "mcfly@hillvalley.edu"
PHONE = "5550100777"


def endpoint_url(endpoint: WebhookEndpoint) -> str:
    return reverse("admin:contacts_webhookendpoint_change", args=[endpoint.pk])


def delivery_url(delivery: WebhookDelivery) -> str:
    return reverse("admin:contacts_webhookdelivery_change", args=[delivery.pk])


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def change_form(endpoint: WebhookEndpoint, **fields: object) -> dict:
    """The change page's form as the browser sends it (an unticked box is left out)."""
    form = {
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": endpoint.event_types,
        "enabled": "on" if endpoint.enabled else None,
        **fields,
    }
    return {name: value for name, value in form.items() if value is not None}


@pytest.fixture
def integrations(staff_client) -> Client:
    return staff_client(INTEGRATIONS)


@pytest.fixture
def endpoint() -> WebhookEndpoint:
    return webhook_endpoint_create(url="https://crm.example/hooks", event_types=[])


@pytest.fixture
def customer_events(identify, endpoint) -> list[WebhookDelivery]:
    """Lorraine, then McFly with her phone number: an identity created, then a contact added;
    one delivery of each to ``endpoint``, oldest first."""
    identify(email=EMAIL, phone=PHONE)
    identify(email=OTHER_EMAIL, phone=PHONE)
    assert events_sequence() == 2
    return list(WebhookDelivery.objects.select_related("event").order_by("id"))


class TestEndpoints:
    def test_adding_stores_the_endpoint_and_shows_its_secret_once(self, integrations):
        response = integrations.post(
            ADD,
            {
                "url": "https://crm.example/hooks",
                "description": "CRM sync",
                "event_types": ["identity.merged", "identity.created"],
            },
        )

        assert response.status_code == 302
        endpoint = WebhookEndpoint.objects.get()
        assert (endpoint.url, endpoint.description, endpoint.enabled) == (
            "https://crm.example/hooks",
            "CRM sync",
            True,
        )
        assert endpoint.event_types == ["identity.created", "identity.merged"]
        assert endpoint.secret.startswith("whsec_")
        [shown] = [message for message in messages_of(response) if "signing secret" in message]
        assert shown.endswith(f": {endpoint.secret}")
        assert LogEntry.objects.get(object_id=str(endpoint.pk)).action_flag == ADDITION
        assert endpoint.secret in integrations.get(ENDPOINTS).content.decode()  # the message
        assert endpoint.secret not in integrations.get(ENDPOINTS).content.decode()  # never again
        change_page = integrations.get(endpoint_url(endpoint)).content.decode()
        assert endpoint.secret not in change_page
        assert f"whsec_…{endpoint.secret[-4:]}" in change_page

    def test_no_type_ticked_receives_every_type(self, admin_client):
        admin_client.post(ADD, {"url": "https://crm.example/hooks", "description": ""})

        endpoint = WebhookEndpoint.objects.get()
        assert endpoint.event_types == []
        [row] = admin_client.get(ENDPOINTS).context["cl"].result_list
        assert row.pk == endpoint.pk
        assert '<td class="field-event_type_list">all</td>' in (
            admin_client.get(ENDPOINTS).content.decode()
        )

    @pytest.mark.parametrize(
        ("form", "field"),
        [
            ({"url": "not a url"}, "url"),
            ({"url": "ftp://crm.example/hooks"}, "url"),
            (
                {"url": "https://crm.example/hooks", "event_types": ["identity.bogus"]},
                "event_types",
            ),
        ],
    )
    def test_a_bad_url_or_an_unknown_type_is_a_form_error(self, admin_client, form, field):
        response = admin_client.post(ADD, {"description": "", **form})

        assert response.status_code == 200
        assert field in response.context["adminform"].form.errors
        assert not WebhookEndpoint.objects.exists()

    def test_the_change_page_edits_the_endpoint_and_keeps_its_secret(self, integrations, endpoint):
        response = integrations.post(
            endpoint_url(endpoint),
            change_form(
                endpoint,
                url="https://crm.example/v2/hooks",
                description="CRM v2",
                event_types=["identity.split"],
                enabled=None,
            ),
        )

        assert response.status_code == 302
        changed = WebhookEndpoint.objects.get()
        assert (changed.url, changed.description, changed.event_types, changed.enabled) == (
            "https://crm.example/v2/hooks",
            "CRM v2",
            ["identity.split"],
            False,
        )
        assert changed.secret == endpoint.secret

    def test_an_unknown_type_on_the_change_page_changes_nothing(self, admin_client, endpoint):
        response = admin_client.post(
            endpoint_url(endpoint),
            change_form(endpoint, url="https://other.example/", event_types=["identity.bogus"]),
        )

        assert response.status_code == 200
        assert "event_types" in response.context["adminform"].form.errors
        assert WebhookEndpoint.objects.get().url == "https://crm.example/hooks"

    def test_the_actions_disable_and_enable_endpoints(self, integrations, endpoint):
        other = webhook_endpoint_create(url="https://analytics.example/in", event_types=[])
        selected = [endpoint.pk, other.pk]

        disabled = integrations.post(
            ENDPOINTS, {"action": "disable_selected", "_selected_action": selected}
        )

        assert not WebhookEndpoint.objects.filter(enabled=True).exists()
        assert f"Disabled webhook endpoints #{endpoint.pk}, #{other.pk}." in messages_of(disabled)
        assert LogEntry.objects.filter(action_flag=CHANGE).count() == 2

        enabled = integrations.post(
            ENDPOINTS, {"action": "enable_selected", "_selected_action": [other.pk]}
        )

        assert list(WebhookEndpoint.objects.filter(enabled=True)) == [other]
        assert f"Enabled webhook endpoints #{other.pk}." in messages_of(enabled)

    def test_the_list_counts_pending_and_dead_deliveries_and_links_them(
        self, admin_client, endpoint, customer_events
    ):
        created, _added = customer_events
        WebhookDelivery.objects.filter(pk=created.pk).update(status=DeliveryStatus.DEAD)
        other = webhook_endpoint_create(url="https://analytics.example/in", event_types=[])

        response = admin_client.get(ENDPOINTS)

        rows = response.context["cl"].result_list
        counts = {row.pk: (row.pending_count, row.dead_count) for row in rows}
        assert counts == {endpoint.pk: (1, 1), other.pk: (0, 0)}
        dead_link = f"{DELIVERIES}?endpoint={endpoint.pk}&amp;status__exact=dead"
        assert f'<a href="{dead_link}">1</a>' in response.content.decode()
        dead = admin_client.get(DELIVERIES, {"endpoint": endpoint.pk, "status__exact": "dead"})
        assert list(dead.context["cl"].result_list) == [created]

    def test_an_endpoint_is_never_deleted_here(self, admin_client, endpoint):
        delete = reverse("admin:contacts_webhookendpoint_delete", args=[endpoint.pk])

        assert admin_client.post(delete, {"post": "yes"}).status_code == 403
        assert WebhookEndpoint.objects.exists()


class TestDeliveries:
    def test_the_list_takes_as_many_queries_for_many_deliveries(
        self, admin_client, identify, endpoint, django_assert_max_num_queries
    ):
        webhook_endpoint_create(url="https://analytics.example/in", event_types=[])
        for number in range(12):
            identify(email=f"customer{number}@example.com")
        events_sequence()

        with django_assert_max_num_queries(6):
            response = admin_client.get(DELIVERIES)

        assert len(response.context["cl"].result_list) == 24
        assert "identity.created" in response.content.decode()

    def test_redeliver_sends_a_dead_letter_again(self, integrations, customer_events):
        dead, pending = customer_events
        WebhookDelivery.objects.filter(pk=dead.pk).update(
            status=DeliveryStatus.DEAD, attempts=9, last_error="HTTP 500"
        )

        response = integrations.post(
            DELIVERIES,
            {"action": "redeliver_selected", "_selected_action": [dead.pk, pending.pk]},
        )

        dead.refresh_from_db()
        assert (dead.status, dead.attempts) == (DeliveryStatus.PENDING, 0)
        assert dead.next_attempt_at <= timezone.now()
        assert "1 delivery will be sent again. 1 delivery was pending already." in messages_of(
            response
        )

    def test_the_page_shows_the_payload_and_no_email_or_phone(self, admin_client, customer_events):
        _created, added = customer_events

        page = admin_client.get(delivery_url(added)).content.decode()

        assert f"&quot;id&quot;: &quot;evt_{added.event_id}&quot;" in page
        assert "&quot;type&quot;: &quot;identity.contact_added&quot;" in page
        assert f"&quot;identityId&quot;: {added.identity_id}" in page
        for value in ("hillvalley", PHONE):
            assert value not in page
        assert 'name="_save"' not in page

    def test_search_finds_an_event_or_an_identity_by_its_id(self, admin_client, customer_events):
        created, added = customer_events

        def found(term: str) -> set[int]:
            response = admin_client.get(DELIVERIES, {"q": term})
            return {delivery.pk for delivery in response.context["cl"].result_list}

        assert found(f"evt_{added.event_id}") == {added.pk}
        assert found(str(created.identity_id)) == {created.pk, added.pk}
        assert found("lorraine") == set()
        assert found("evt_x") == set()


class TestIdentityEvents:
    def test_they_are_listed_by_type_with_their_data_and_no_email_or_phone(
        self, admin_client, customer_events
    ):
        response = admin_client.get(EVENTS, {"type": "identity.contact_added"})

        [event] = response.context["cl"].result_list
        assert event == OutboxEvent.objects.get(type="identity.contact_added")
        page = response.content.decode()
        assert f"&quot;identityId&quot;: {event.identity_id}" in page
        for value in ("hillvalley", PHONE):
            assert value not in page

    def test_nothing_is_added_changed_or_deleted(self, admin_client, customer_events):
        event = OutboxEvent.objects.first()
        change = reverse("admin:contacts_outboxevent_change", args=[event.pk])
        delete = reverse("admin:contacts_outboxevent_delete", args=[event.pk])

        assert admin_client.get(reverse("admin:contacts_outboxevent_add")).status_code == 403
        assert admin_client.post(change, {"type": "identity.erased"}).status_code == 403
        assert admin_client.post(delete, {"post": "yes"}).status_code == 403
        assert OutboxEvent.objects.get(pk=event.pk).type == event.type


class TestPermissions:
    @pytest.mark.parametrize("role", [READ_ONLY, CORRECTIONS, GOVERNANCE, PRIVACY])
    def test_other_roles_cannot_see_webhooks(self, staff_client, role, customer_events):
        client = staff_client(role)

        for url in (ENDPOINTS, ADD, DELIVERIES, delivery_url(customer_events[0]), EVENTS):
            assert client.get(url).status_code == 403, url

    def test_the_integrations_role_sees_no_contact(self, integrations):
        assert integrations.get(reverse("admin:contacts_contact_changelist")).status_code == 403

    def test_viewing_deliveries_does_not_redeliver_them(self, django_user_model, customer_events):
        dead = customer_events[0]
        WebhookDelivery.objects.filter(pk=dead.pk).update(status=DeliveryStatus.DEAD)
        user = django_user_model.objects.create_user(username="viewer", is_staff=True)
        user.user_permissions.add(Permission.objects.get(codename="view_webhookdelivery"))
        client = Client()
        client.force_login(user)

        listed = client.get(DELIVERIES)
        client.post(DELIVERIES, {"action": "redeliver_selected", "_selected_action": [dead.pk]})

        assert listed.status_code == 200
        assert "redeliver_selected" not in listed.content.decode()
        assert WebhookDelivery.objects.get(pk=dead.pk).status == DeliveryStatus.DEAD
