"""Corrections and reconciliation (SPEC §3, §7): clusters are recomputed around what changed."""

import pytest

from contacts.exceptions import CorrectionError
from contacts.models import ClusterEvent, Contact, EventKind, IdentityLink, LinkPrecedence, Source
from contacts.services.corrections import contact_edit, contacts_restore, contacts_soft_delete
from contacts.services.repairs import clusters_reconcile
from contacts.tests.graph_model import assert_invariants

pytestmark = pytest.mark.django_db


def primary_of(contact: Contact) -> int:
    contact.refresh_from_db()
    return contact.linked_id or contact.id


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(username="support", is_staff=True)


@pytest.fixture
def bridged(make_contact):
    """Two customers wrongly joined by a contact with one's email and the other's phone."""
    lorraine = make_contact(email="lorraine@example.com", phone="111")
    george = make_contact(email="george@example.com", phone="222")
    bridge = make_contact(email="lorraine@example.com", phone="222", linked=lorraine)
    Contact.objects.filter(id=george.id).update(
        linked=lorraine, link_precedence=LinkPrecedence.SECONDARY
    )
    return lorraine, george, bridge


@pytest.fixture
def merged_by_link_record(make_contact):
    """George's and Biff's clusters, merged by a request that bridged them (SPEC §4 rule 3)."""
    george = make_contact(email="george@example.com", phone="919191")
    biff = make_contact(email="biff@example.com", phone="717171", linked=george)
    other = make_contact(email="biff2@example.com", phone="717171", linked=george)
    IdentityLink.objects.create(email="george@example.com", phone_number="717171")
    return george, biff, other


class TestSoftDelete:
    def test_deleting_the_bridge_splits_the_cluster_and_the_newer_part_gets_its_oldest(
        self, bridged, staff
    ):
        lorraine, george, bridge = bridged

        result = contacts_soft_delete(contact_ids=[bridge.id], user=staff)

        assert primary_of(lorraine) == lorraine.id
        assert primary_of(george) == george.id
        george.refresh_from_db()
        assert george.link_precedence == LinkPrecedence.PRIMARY
        assert result.relinked_ids == [george.id]
        assert Contact.live.filter(id=bridge.id).count() == 0
        assert_invariants()

    def test_deletion_and_split_are_recorded_with_the_staff_user(self, bridged, staff):
        _, george, bridge = bridged

        contacts_soft_delete(contact_ids=[bridge.id], user=staff)

        events = list(ClusterEvent.objects.values_list("kind", "contact_id", "user_id", "source"))
        assert (EventKind.DELETED, bridge.id, staff.id, Source.ADMIN) in events
        assert (EventKind.SPLIT, george.id, staff.id, Source.ADMIN) in events

    def test_deleting_a_primary_promotes_the_oldest_of_each_remaining_part(self, make_contact):
        primary = make_contact(email="p@example.com", phone="111")
        older = make_contact(email="p@example.com", phone="222", linked=primary)
        newer = make_contact(email="q@example.com", phone="222", linked=primary)

        contacts_soft_delete(contact_ids=[primary.id])

        assert primary_of(older) == older.id
        assert primary_of(newer) == older.id
        assert_invariants()

    def test_deleting_a_contact_whose_identifiers_remain_changes_no_link(self, make_contact):
        primary = make_contact(email="p@example.com", phone="111")
        duplicate = make_contact(email="p@example.com", phone="111", linked=primary)

        result = contacts_soft_delete(contact_ids=[duplicate.id])

        assert result.relinked_ids == []
        assert primary_of(primary) == primary.id
        assert_invariants()

    def test_a_link_record_keeps_clusters_together_while_both_identifiers_live(
        self, merged_by_link_record
    ):
        george, biff, other = merged_by_link_record

        contacts_soft_delete(contact_ids=[other.id])

        assert primary_of(biff) == george.id
        assert_invariants()

    def test_a_link_record_stops_counting_once_an_identifier_is_gone(self, merged_by_link_record):
        george, biff, other = merged_by_link_record

        contacts_soft_delete(contact_ids=[george.id])

        assert primary_of(biff) == biff.id
        assert primary_of(other) == biff.id
        assert_invariants()


class TestRestore:
    def test_restoring_the_bridge_merges_the_clusters_again(self, bridged):
        lorraine, george, bridge = bridged
        contacts_soft_delete(contact_ids=[bridge.id])

        contacts_restore(contact_ids=[bridge.id])

        assert primary_of(bridge) == lorraine.id
        assert primary_of(george) == lorraine.id
        assert set(ClusterEvent.objects.values_list("kind", flat=True)) >= {
            EventKind.RESTORED,
            EventKind.MERGED,
        }
        assert_invariants()

    def test_a_restored_older_contact_leads_its_cluster_again(self, make_contact):
        oldest = make_contact(email="a@example.com", phone="111")
        other = make_contact(email="b@example.com", phone="111", linked=oldest)
        contacts_soft_delete(contact_ids=[oldest.id])
        assert primary_of(other) == other.id

        contacts_restore(contact_ids=[oldest.id])

        assert primary_of(other) == oldest.id
        assert primary_of(oldest) == oldest.id
        assert_invariants()


class TestSeveralAtOnce:
    def test_deleting_both_bridges_of_a_chain_splits_it_in_three_in_one_transaction(
        self, make_contact, staff
    ):
        first = make_contact(email="a@example.com", phone="111")
        bridge = make_contact(email="b@example.com", phone="111", linked=first)
        middle = make_contact(email="b@example.com", phone="222", linked=first)
        other_bridge = make_contact(email="c@example.com", phone="222", linked=first)
        last = make_contact(email="c@example.com", phone="333", linked=first)

        result = contacts_soft_delete(contact_ids=[bridge.id, other_bridge.id], user=staff)

        assert [primary_of(contact) for contact in (first, middle, last)] == [
            first.id,
            middle.id,
            last.id,
        ]
        assert result.primary_ids == [first.id, middle.id, last.id]
        deleted = ClusterEvent.objects.filter(kind=EventKind.DELETED, user=staff)
        assert sorted(deleted.values_list("contact_id", flat=True)) == [bridge.id, other_bridge.id]
        assert_invariants()

    def test_restoring_both_bridges_merges_the_chain_again(self, make_contact):
        first = make_contact(email="a@example.com", phone="111")
        bridge = make_contact(email="b@example.com", phone="111", linked=first)
        middle = make_contact(email="b@example.com", phone="222", linked=first)
        other_bridge = make_contact(email="c@example.com", phone="222", linked=first)
        contacts_soft_delete(contact_ids=[bridge.id, other_bridge.id])

        result = contacts_restore(contact_ids=[bridge.id, other_bridge.id])

        assert result.primary_ids == [first.id]
        assert {primary_of(contact) for contact in (bridge, middle, other_bridge)} == {first.id}
        assert_invariants()

    def test_contacts_already_in_the_wanted_state_are_left_as_they_are(self, bridged):
        _, george, bridge = bridged
        contacts_soft_delete(contact_ids=[bridge.id])
        recorded = ClusterEvent.objects.count()

        contacts_soft_delete(contact_ids=[bridge.id])
        contacts_restore(contact_ids=[george.id])

        assert ClusterEvent.objects.count() == recorded
        assert_invariants()

    def test_an_unknown_contact_among_them_changes_nothing(self, bridged):
        lorraine, george, bridge = bridged

        with pytest.raises(Contact.DoesNotExist):
            contacts_soft_delete(contact_ids=[bridge.id, 987654321])

        assert Contact.live.filter(id=bridge.id).exists()
        assert primary_of(george) == lorraine.id
        assert not ClusterEvent.objects.exists()


class TestEdit:
    def test_editing_away_the_shared_identifier_splits_the_cluster(self, bridged):
        lorraine, george, bridge = bridged

        contact_edit(contact_id=bridge.id, email="new@example.com", phone_number="222")

        assert primary_of(lorraine) == lorraine.id
        assert primary_of(bridge) == george.id
        assert primary_of(george) == george.id
        assert_invariants()

    def test_editing_in_another_clusters_identifier_merges_into_the_oldest(self, make_contact):
        older = make_contact(email="a@example.com", phone="111")
        newer = make_contact(email="b@example.com", phone="222")
        newer_secondary = make_contact(email="c@example.com", phone="222", linked=newer)

        contact_edit(contact_id=newer_secondary.id, email="c@example.com", phone_number="111")

        assert primary_of(newer_secondary) == older.id
        assert primary_of(newer) == newer.id
        assert_invariants()

    def test_edit_is_recorded_with_old_and_new_values(self, make_contact, staff):
        contact = make_contact(email="a@example.com", phone="111")

        contact_edit(contact_id=contact.id, email="b@example.com", phone_number="111", user=staff)

        event = ClusterEvent.objects.get(kind=EventKind.EDITED)
        assert event.details["email"] == ["a@example.com", "b@example.com"]
        assert event.user == staff

    def test_an_edit_leaving_no_identifier_is_refused(self, make_contact):
        contact = make_contact(email="a@example.com", phone="111")

        with pytest.raises(CorrectionError):
            contact_edit(contact_id=contact.id, email=None, phone_number=None)

        contact.refresh_from_db()
        assert (contact.email, contact.phone_number) == ("a@example.com", "111")


class TestReconcile:
    def test_a_chain_of_secondaries_is_flattened(self, make_contact):
        primary = make_contact(email="a@example.com", phone="111")
        middle = make_contact(email="b@example.com", phone="111", linked=primary)
        chained = make_contact(email="b@example.com", phone="222", linked=middle)

        clusters_reconcile(contact_ids=[chained.id])

        assert primary_of(chained) == primary.id
        assert_invariants()

    def test_a_primary_that_is_not_the_oldest_is_replaced(self, make_contact):
        newer = make_contact(email="a@example.com", phone="111")
        older = make_contact(
            email="b@example.com",
            phone="111",
            linked=newer,
            created_at=newer.created_at.replace(year=2020),
        )

        result = clusters_reconcile(contact_ids=[newer.id])

        assert primary_of(newer) == older.id
        assert primary_of(older) == older.id
        assert result.primary_ids == [older.id]
        assert_invariants()

    def test_a_secondary_of_a_deleted_primary_is_relinked(self, make_contact):
        gone = make_contact(email="a@example.com", phone="111", deleted=True)
        orphan = make_contact(email="b@example.com", phone="111", linked=gone)
        sibling = make_contact(email="c@example.com", phone="111", linked=gone)

        clusters_reconcile(contact_ids=[orphan.id])

        assert primary_of(orphan) == orphan.id
        assert primary_of(sibling) == orphan.id
        assert_invariants()

    def test_two_clusters_sharing_an_identifier_are_merged(self, make_contact):
        first = make_contact(email="a@example.com", phone="111")
        second = make_contact(email="b@example.com", phone="111")

        clusters_reconcile(contact_ids=[second.id])

        assert primary_of(second) == first.id
        assert_invariants()

    def test_a_consistent_cluster_is_left_alone(self, identify):
        answer = identify(email="a@example.com", phone="111")
        identify(email="b@example.com", phone="111")
        events_before = ClusterEvent.objects.count()

        result = clusters_reconcile(contact_ids=[answer["primaryContactId"]])

        assert result.relinked_ids == []
        assert ClusterEvent.objects.count() == events_before

    def test_repairs_by_the_command_are_recorded_as_repairs(self, make_contact):
        first = make_contact(email="a@example.com", phone="111")
        second = make_contact(email="b@example.com", phone="111")

        clusters_reconcile(contact_ids=[first.id], source=Source.COMMAND)

        assert list(ClusterEvent.objects.values_list("kind", "contact_id", "source")) == [
            (EventKind.REPAIRED, first.id, Source.COMMAND)
        ]
        assert primary_of(second) == first.id


class TestIdentifyHistory:
    def test_every_write_of_the_api_is_recorded(self, identify):
        george = identify(email="george@example.com", phone="919191")["primaryContactId"]
        identify(email="george2@example.com", phone="919191")
        biff = identify(email="biff@example.com", phone="717171")["primaryContactId"]
        identify(email="george@example.com", phone="717171")
        identify(email="george@example.com")

        kinds = list(ClusterEvent.objects.values_list("kind", "primary_id", "source"))
        assert kinds == [
            (EventKind.PRIMARY_CREATED, george, Source.API),
            (EventKind.SECONDARY_ADDED, george, Source.API),
            (EventKind.PRIMARY_CREATED, biff, Source.API),
            (EventKind.MERGED, george, Source.API),
        ]
        merge = ClusterEvent.objects.get(kind=EventKind.MERGED)
        assert merge.details["loser"] == biff
        request = merge.details["request"]
        assert (request["email"], request["phone_number"]) == ("george@example.com", "717171")
        assert len(request["id"]) == 32
        assert merge.details["bridged_by"] == ["phoneNumber"]


class TestIdentifyAfterCorrections:
    def test_a_request_that_brings_back_a_linked_identifier_rejoins_the_cluster(
        self, identify, merged_by_link_record
    ):
        george, biff, other = merged_by_link_record
        contacts_soft_delete(contact_ids=[biff.id])
        contacts_soft_delete(contact_ids=[other.id])
        assert not Contact.live.filter(phone_number="717171").exists()

        answer = identify(email="newcomer@example.com", phone="717171")

        assert answer["primaryContactId"] == george.id
        assert answer["phoneNumbers"] == ["919191", "717171"]
        assert_invariants()

    def test_a_linked_identifier_brought_back_alone_rejoins_the_cluster(
        self, identify, merged_by_link_record
    ):
        george, biff, other = merged_by_link_record
        contacts_soft_delete(contact_ids=[biff.id])
        contacts_soft_delete(contact_ids=[other.id])

        answer = identify(phone="717171")

        assert answer["primaryContactId"] == george.id
        assert_invariants()
