"""Who may do what in the admin: staff only; the read-only support role cannot change anything."""

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from contacts.models import ClusterEvent, Contact
from contacts.roles import CORRECTIONS, GOVERNANCE, INTEGRATIONS, READ_ONLY

pytestmark = pytest.mark.django_db

CONTACTS = reverse("admin:contacts_contact_changelist")
CLUSTERS = reverse("admin:contacts_cluster_changelist")
SOFT_DELETE = reverse("admin:contacts_contact_soft_delete")
RESTORE = reverse("admin:contacts_contact_restore")


def pages(contact: Contact) -> list[str]:
    return [
        CONTACTS,
        CLUSTERS,
        reverse("admin:contacts_contact_change", args=[contact.id]),
        reverse("admin:contacts_cluster_change", args=[contact.id]),
        reverse("admin:contacts_clusterevent_changelist"),
        reverse("admin:contacts_identitylink_changelist"),
    ]


def test_anonymous_visitors_are_sent_to_the_login_page(client, make_contact):
    contact = make_contact(email="a@example.com", phone="111")

    for url in [*pages(contact), SOFT_DELETE]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith(reverse("admin:login")), url


def test_users_who_are_not_staff_cannot_enter(django_user_model, make_contact):
    contact = make_contact(email="a@example.com", phone="111")
    client = Client()
    client.force_login(django_user_model.objects.create_user(username="customer"))

    response = client.get(CLUSTERS)

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))
    identifiers = client.get(reverse("admin:contacts_contact_identifiers", args=[contact.id]))
    assert identifiers.url.startswith(reverse("admin:login"))


class TestReadOnlySupport:
    def test_sees_every_page(self, staff_client, bridged_customers):
        client = staff_client(READ_ONLY)
        lorraine, _, _ = bridged_customers

        for url in pages(lorraine):
            assert client.get(url).status_code == 200, url

    def test_is_offered_no_correction(self, staff_client, bridged_customers):
        client = staff_client(READ_ONLY)
        lorraine, bridge, _ = bridged_customers

        contact_page = client.get(reverse("admin:contacts_contact_change", args=[bridge.id]))
        cluster_page = client.get(reverse("admin:contacts_cluster_change", args=[lorraine.id]))

        for page in (contact_page, cluster_page):
            html = page.content.decode()
            assert SOFT_DELETE not in html
            assert "/identifiers/" not in html
        assert client.get(CONTACTS).context["action_form"] is None
        assert client.get(CLUSTERS).context["action_form"] is None

    def test_cannot_change_anything(self, staff_client, bridged_customers):
        client = staff_client(READ_ONLY)
        lorraine, bridge, _ = bridged_customers
        contact_deleted = Contact.objects.create(
            email="gone@example.com", deleted_at=bridge.created_at
        )
        identifiers = reverse("admin:contacts_contact_identifiers", args=[bridge.id])

        responses = [
            client.get(identifiers),
            client.post(identifiers, {"email": "x@example.com", "phone_number": "111"}),
            client.get(SOFT_DELETE, {"ids": bridge.id}),
            client.post(SOFT_DELETE, {"ids": [bridge.id]}),
            client.post(RESTORE, {"ids": [contact_deleted.id]}),
            client.post(
                reverse("admin:contacts_contact_change", args=[bridge.id]),
                {"email": "x@example.com"},
            ),
        ]
        action = client.post(
            CONTACTS, {"action": "soft_delete_selected", "_selected_action": [bridge.id]}
        )
        reconcile = client.post(
            CLUSTERS, {"action": "reconcile_selected", "_selected_action": [lorraine.id]}
        )

        assert [response.status_code for response in responses] == [403] * len(responses)
        # Actions the role lacks are not offered: posting one only shows the list again.
        assert (action.status_code, reconcile.status_code) == (200, 200)
        assert Contact.live.count() == 3
        bridge.refresh_from_db()
        assert (bridge.email, bridge.phone_number) == ("lorraine@example.com", "222")
        assert not ClusterEvent.objects.exists()


class TestCorrectionsRole:
    def test_can_edit_and_soft_delete(self, staff_client, bridged_customers):
        client = staff_client(CORRECTIONS)
        _, bridge, george = bridged_customers
        identifiers = reverse("admin:contacts_contact_identifiers", args=[george.id])

        edit = client.post(identifiers, {"email": "george@example.com", "phone_number": "333"})
        delete = client.post(SOFT_DELETE, {"ids": [bridge.id]})

        assert (edit.status_code, delete.status_code) == (302, 302)
        george.refresh_from_db()
        assert george.phone_number == "333"
        assert not Contact.live.filter(id=bridge.id).exists()

    def test_cannot_hard_delete(self, staff_client, make_contact):
        client = staff_client(CORRECTIONS)
        contact = make_contact(email="a@example.com", phone="111")

        response = client.post(
            reverse("admin:contacts_contact_delete", args=[contact.id]), {"post": "yes"}
        )

        assert response.status_code == 403
        assert Contact.objects.filter(id=contact.id).exists()


def test_the_command_creates_every_role_with_its_permissions(capsys):
    """Governance (docs/governance.md) is a role of its own: no support role may govern."""
    call_command("support_roles")
    call_command("support_roles")

    def codenames(role: str) -> set[str]:
        return set(Group.objects.get(name=role).permissions.values_list("codename", flat=True))

    read_only = codenames(READ_ONLY)
    governing = {
        "view_blockedidentifier",
        "view_heldmerge",
        "view_clusterlimit",
        "add_blockedidentifier",
        "delete_blockedidentifier",
        "govern_identifiers",
    }
    assert read_only == {"view_contact", "view_cluster", "view_clusterevent", "view_identitylink"}
    assert codenames(CORRECTIONS) == read_only | {"change_contact", "delete_contact"}
    assert codenames(GOVERNANCE) == read_only | governing
    assert codenames(INTEGRATIONS) == {
        "view_webhookendpoint",
        "add_webhookendpoint",
        "change_webhookendpoint",
        "view_webhookdelivery",
        "change_webhookdelivery",
        "view_outboxevent",
    }
    assert READ_ONLY in capsys.readouterr().out
