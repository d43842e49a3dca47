"""Corrections made in the admin: each calls its service, reconciles at once and is attributable.

Merges and splits are checked against SPEC §3 through ``assert_invariants`` (clusters must be the
components of the identity graph, each led by its oldest contact).
"""

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.urls import reverse

from contacts.models import ClusterEvent, Contact, EventKind, Source
from contacts.tests.graph_model import assert_invariants

pytestmark = pytest.mark.django_db

CONTACTS = reverse("admin:contacts_contact_changelist")
CLUSTERS = reverse("admin:contacts_cluster_changelist")
SOFT_DELETE = reverse("admin:contacts_contact_soft_delete")
RESTORE = reverse("admin:contacts_contact_restore")


def identifiers_url(contact: Contact) -> str:
    return reverse("admin:contacts_contact_identifiers", args=[contact.id])


def primary_of(contact: Contact) -> int:
    contact.refresh_from_db()
    return contact.linked_id or contact.id


class TestEditIdentifiers:
    def test_the_form_shows_the_current_values_and_what_saving_does(
        self, admin_client, make_contact
    ):
        contact = make_contact(email="a@example.com", phone="111")

        page = admin_client.get(identifiers_url(contact)).content.decode()

        assert 'value="a@example.com"' in page
        assert "<strong>splits</strong>" in page

    def test_an_edit_is_normalized_and_merges_into_the_older_cluster(
        self, admin_client, admin_user, make_contact
    ):
        older = make_contact(email="a@example.com", phone="111")
        newer = make_contact(email="b@example.com", phone="222")

        response = admin_client.post(
            identifiers_url(newer), {"email": "  B@Example.com ", "phone_number": "1-1-1"}
        )

        assert response.status_code == 302
        assert response.url == f"{CLUSTERS}?id__in={older.id}"
        newer.refresh_from_db()
        assert (newer.email, newer.phone_number) == ("b@example.com", "111")
        assert primary_of(newer) == older.id
        assert_invariants()
        edit = ClusterEvent.objects.get(kind=EventKind.EDITED)
        assert (edit.user, edit.source) == (admin_user, Source.ADMIN)
        assert edit.details["phone_number"] == ["222", "111"]
        log = LogEntry.objects.get(object_id=str(newer.id))
        assert (log.user, log.action_flag) == (admin_user, CHANGE)
        assert "phone number 222 → 111" in log.get_change_message()

    def test_editing_away_the_bridging_identifier_splits_the_cluster(
        self, admin_client, bridged_customers
    ):
        lorraine, bridge, george = bridged_customers

        admin_client.post(identifiers_url(bridge), {"email": "", "phone_number": "222"})

        assert primary_of(lorraine) == lorraine.id
        assert primary_of(bridge) == bridge.id
        assert primary_of(george) == bridge.id
        assert_invariants()
        assert ClusterEvent.objects.filter(kind=EventKind.SPLIT, primary_id=bridge.id).exists()

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            ({"email": "not-an-email", "phone_number": "111"}, "Enter a valid email address."),
            ({"email": "a@example.com", "phone_number": "12"}, "Must be 3 to 20 digits"),
            ({"email": " ", "phone_number": ""}, "A contact needs an email or a phone number."),
        ],
        ids=["email", "phone", "neither"],
    )
    def test_invalid_values_are_form_errors_and_change_nothing(
        self, admin_client, make_contact, data, message
    ):
        contact = make_contact(email="a@example.com", phone="111")

        response = admin_client.post(identifiers_url(contact), data)

        assert response.status_code == 200
        assert message in response.content.decode()
        contact.refresh_from_db()
        assert (contact.email, contact.phone_number) == ("a@example.com", "111")
        assert not ClusterEvent.objects.exists()
        assert not LogEntry.objects.exists()

    def test_saving_the_same_values_changes_and_records_nothing(self, admin_client, make_contact):
        contact = make_contact(email="a@example.com", phone="111")

        response = admin_client.post(
            identifiers_url(contact), {"email": "A@example.com", "phone_number": "(111)"}
        )

        assert response.status_code == 302
        assert not ClusterEvent.objects.exists()
        assert not LogEntry.objects.exists()

    def test_a_soft_deleted_contact_cannot_be_edited(self, admin_client, make_contact):
        contact = make_contact(email="a@example.com", phone="111", deleted=True)

        response = admin_client.post(
            identifiers_url(contact), {"email": "b@example.com", "phone_number": "111"}
        )

        assert response.status_code == 404


class TestSoftDelete:
    def test_the_confirmation_says_the_cluster_will_split_and_changes_nothing(
        self, admin_client, bridged_customers
    ):
        lorraine, bridge, george = bridged_customers

        response = admin_client.get(SOFT_DELETE, {"ids": bridge.id})

        assert response.context["items"] == [(bridge, [[lorraine.id], [george.id]])]
        assert "splits into 2" in response.content.decode()
        assert Contact.live.count() == 3

    def test_the_confirmation_says_who_leads_when_the_cluster_stays_whole(
        self, admin_client, make_contact
    ):
        primary = make_contact(email="a@example.com", phone="111")
        older = make_contact(email="b@example.com", phone="111", linked=primary)
        newer = make_contact(email="c@example.com", phone="111", linked=primary)
        alone = make_contact(email="z@example.com")

        response = admin_client.get(SOFT_DELETE, {"ids": [primary.id, alone.id]})

        assert response.context["items"] == [(alone, []), (primary, [[older.id, newer.id]])]
        page = response.content.decode()
        assert f"the 2 other contacts stay together, led by #{older.id}" in page
        assert "its cluster disappears (it was alone)" in page

    def test_confirming_splits_the_cluster_and_records_who_did_it(
        self, admin_client, admin_user, bridged_customers
    ):
        lorraine, bridge, george = bridged_customers

        response = admin_client.post(SOFT_DELETE, {"ids": [bridge.id]})

        assert response.url == f"{CLUSTERS}?id__in={lorraine.id},{george.id}"
        assert not Contact.live.filter(id=bridge.id).exists()
        assert (primary_of(lorraine), primary_of(george)) == (lorraine.id, george.id)
        assert_invariants()
        assert ClusterEvent.objects.filter(
            kind=EventKind.DELETED, contact_id=bridge.id, user=admin_user
        ).exists()
        assert LogEntry.objects.get(object_id=str(bridge.id)).get_change_message() == (
            "Soft-deleted."
        )
        listed = admin_client.get(response.url).context["cl"].result_list
        assert sorted(cluster.pk for cluster in listed) == [lorraine.id, george.id]

    def test_confirming_several_soft_deletes_them_together_with_one_log_entry_each(
        self, admin_client, make_contact
    ):
        primary = make_contact(email="a@example.com", phone="111")
        bridge = make_contact(email="b@example.com", phone="111", linked=primary)
        tail = make_contact(email="b@example.com", phone="222", linked=primary)
        alone = make_contact(email="z@example.com")

        response = admin_client.post(SOFT_DELETE, {"ids": [bridge.id, alone.id]}, follow=True)

        assert not Contact.live.filter(id__in=[bridge.id, alone.id]).exists()
        assert (primary_of(primary), primary_of(tail)) == (primary.id, tail.id)
        assert_invariants()
        logged = LogEntry.objects.values_list("object_id", flat=True)
        assert sorted(logged) == sorted([str(bridge.id), str(alone.id)])
        [message] = [str(message) for message in response.context["messages"]]
        assert message.startswith(f"#{alone.id}, #{bridge.id}: Soft-deleted.")

    def test_the_bulk_action_asks_for_confirmation_first(self, admin_client, bridged_customers):
        _, bridge, _ = bridged_customers

        response = admin_client.post(
            CONTACTS, {"action": "soft_delete_selected", "_selected_action": [bridge.id]}
        )

        assert response.status_code == 302
        assert response.url == f"{SOFT_DELETE}?ids={bridge.id}"
        assert Contact.live.filter(id=bridge.id).exists()

    def test_deleting_a_primary_hands_its_cluster_to_the_oldest_remaining(
        self, admin_client, make_contact
    ):
        primary = make_contact(email="a@example.com", phone="111")
        older = make_contact(email="b@example.com", phone="111", linked=primary)
        newer = make_contact(email="c@example.com", phone="111", linked=primary)

        admin_client.post(SOFT_DELETE, {"ids": [primary.id]})

        assert (primary_of(older), primary_of(newer)) == (older.id, older.id)
        assert_invariants()


class TestRestore:
    def test_restoring_the_bridge_merges_the_two_customers_again(
        self, admin_client, bridged_customers
    ):
        lorraine, bridge, george = bridged_customers
        admin_client.post(SOFT_DELETE, {"ids": [bridge.id]})

        preview = admin_client.get(RESTORE, {"ids": bridge.id})
        response = admin_client.post(RESTORE, {"ids": [bridge.id]})

        assert preview.context["items"] == [(bridge, [[lorraine.id, bridge.id, george.id]])]
        assert response.url == f"{CLUSTERS}?id__in={lorraine.id}"
        assert primary_of(george) == lorraine.id
        assert primary_of(bridge) == lorraine.id
        assert_invariants()
        assert ClusterEvent.objects.filter(kind=EventKind.RESTORED).count() == 1

    def test_a_live_contact_is_not_offered_for_restore(self, admin_client, make_contact):
        contact = make_contact(email="a@example.com", phone="111")

        response = admin_client.post(RESTORE, {"ids": [contact.id]})

        assert response.status_code == 200
        assert response.context["items"] == []
        assert not ClusterEvent.objects.exists()


class TestReconcile:
    def test_the_clusters_action_repairs_a_broken_cluster(self, admin_client, make_contact):
        first = make_contact(email="a@example.com", phone="111")
        second = make_contact(email="b@example.com", phone="111")

        response = admin_client.post(
            CLUSTERS, {"action": "reconcile_selected", "_selected_action": [second.id]}
        )

        assert response.url == f"{CLUSTERS}?id__in={first.id}"
        assert primary_of(second) == first.id
        assert_invariants()
        assert ClusterEvent.objects.filter(kind=EventKind.MERGED, source=Source.ADMIN).exists()
        assert LogEntry.objects.filter(object_id=str(second.id)).exists()

    def test_the_contacts_action_relinks_a_chain(self, admin_client, make_contact):
        primary = make_contact(email="a@example.com", phone="111")
        middle = make_contact(email="b@example.com", phone="111", linked=primary)
        chained = make_contact(email="b@example.com", phone="222", linked=middle)

        admin_client.post(
            CONTACTS, {"action": "reconcile_selected", "_selected_action": [chained.id]}
        )

        assert primary_of(chained) == primary.id
        assert_invariants()
