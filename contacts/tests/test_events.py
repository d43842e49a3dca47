"""Identity events from the history (docs/events.md): what each change becomes, the numbering of
each identity's stream, and the sequencer's floor, which must never pass a history row whose
transaction has not ended."""

import json
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test import override_settings

from contacts.models import (
    ClusterEvent,
    ErasureScope,
    EventKind,
    EventSequencer,
    HeldMerge,
    OutboxEvent,
    Source,
)
from contacts.rules.events import (
    Checkpoint,
    HistoryRow,
    Horizon,
    event_from_history,
    floor_advance,
)
from contacts.selectors.privacy import ErasureSubject
from contacts.services import events as events_service
from contacts.services.corrections import contact_edit, contacts_restore, contacts_soft_delete
from contacts.services.erasure import Requester, person_erase
from contacts.services.events import events_sequence
from contacts.services.held_merges import held_merge_reject
from contacts.tests.traffic import transaction_held_open

EMAILS = ["doc@hillvalley.edu", "marty@hillvalley.edu", "x.bridge@example.com"]
PHONES = ["5551001", "5551002"]


def sequenced() -> list[OutboxEvent]:
    events_sequence()
    return list(OutboxEvent.objects.order_by("id"))


def of_type(events: list[OutboxEvent], event_type: str) -> list[OutboxEvent]:
    return [event for event in events if event.type == event_type]


@pytest.fixture
def bridged(identify) -> tuple[int, int]:
    """Two customers, then a request that bridges them: (winner, loser)."""
    doc = identify(email=EMAILS[0], phone=PHONES[0])["primaryContactId"]
    marty = identify(email=EMAILS[1], phone=PHONES[1])["primaryContactId"]
    identify(email=EMAILS[0], phone=PHONES[1])
    return doc, marty


@pytest.mark.django_db
class TestWhatEachChangeBecomes:
    def test_a_new_customer_is_created_and_a_new_value_added(self, identify):
        primary = identify(email=EMAILS[0], phone=PHONES[0])["primaryContactId"]
        secondary = identify(email=EMAILS[0], phone=PHONES[1])["secondaryContactIds"][0]

        created, added = sequenced()

        assert (created.type, created.identity_id, created.data["contactIds"]) == (
            "identity.created",
            primary,
            [primary],
        )
        assert (added.type, added.identity_id, added.data["contactIds"]) == (
            "identity.contact_added",
            primary,
            [secondary],
        )
        assert len(added.data["requestId"]) == 32

    def test_a_bridging_request_is_one_merge_in_both_streams(self, bridged):
        winner, loser = bridged

        (merged,) = of_type(sequenced(), "identity.merged")

        assert merged.identity_id == winner
        assert merged.data["mergedIdentityIds"] == [loser]
        assert merged.data["bridgedBy"] == ["phoneNumber"]
        assert merged.streams == [[winner, 2], [loser, 2]]

    def test_edits_deletions_and_restorations_name_fields_not_values(self, bridged):
        loser = bridged[1]
        contact_edit(contact_id=loser, email="marty.new@hillvalley.edu", phone_number=PHONES[1])
        contacts_soft_delete(contact_ids=[loser])
        contacts_restore(contact_ids=[loser])

        changes = of_type(sequenced(), "identity.contact_changed")

        assert [(event.data["change"], event.data["fields"]) for event in changes] == [
            ("edited", ["email"]),
            ("deleted", []),
            ("restored", []),
        ]
        assert {event.data["contactId"] for event in changes} == {loser}

    def test_a_deletion_that_splits_an_identity_is_in_both_streams(self, identify):
        first = identify(email=EMAILS[0], phone=PHONES[0])["primaryContactId"]
        bridge = identify(email=EMAILS[0], phone=PHONES[1])["secondaryContactIds"][0]
        third = identify(email=EMAILS[1], phone=PHONES[1])["secondaryContactIds"][-1]
        contacts_soft_delete(contact_ids=[bridge])

        (split,) = of_type(sequenced(), "identity.split")

        assert split.identity_id == third
        assert split.data["previousIdentityIds"] == [first]
        assert [identity for identity, _ in split.streams] == [third, first]

    @pytest.mark.usefixtures("bridged")
    def test_an_erasure_is_an_event_with_ids_only(self):
        person_erase(
            subject=ErasureSubject(scope=ErasureScope.IDENTITY, email=EMAILS[1]),
            reason="asked",
            requester=Requester(source=Source.COMMAND, name="test"),
        )

        erased = of_type(sequenced(), "identity.erased")

        assert sorted(id for event in erased for id in event.data["contactIds"]) == sorted(
            ClusterEvent.objects.filter(kind=EventKind.ERASED).values_list("contact_id", flat=True)
        )

    @override_settings(IDENTITY_MAX_CLUSTER_SIZE=2)
    def test_a_held_merge_and_its_decision_are_events(self, identify):
        first = identify(email=EMAILS[0], phone=PHONES[0])["primaryContactId"]
        identify(email=EMAILS[0], phone="5551003")
        identify(email=EMAILS[1], phone=PHONES[1])
        identify(email=EMAILS[0], phone=PHONES[1])
        held = HeldMerge.objects.get()
        held_merge_reject(held=held, never_link=True)

        events = sequenced()

        (held_event,) = of_type(events, "identity.merge_held")
        (decided,) = of_type(events, "identity.merge_decided")
        assert held_event.identity_id == first
        assert held_event.data["heldMergeId"] == held.id
        assert (decided.data["decision"], decided.data["neverLink"]) == ("rejected", True)

    def test_no_event_carries_an_email_or_a_phone_number(self, bridged):
        loser = bridged[1]
        contact_edit(contact_id=loser, email="marty.new@hillvalley.edu", phone_number="5559999")

        text = json.dumps([[event.data, event.streams] for event in sequenced()])

        for value in [*EMAILS, *PHONES, "marty.new@hillvalley.edu", "5559999"]:
            assert value not in text


@pytest.mark.django_db
class TestStreams:
    def test_each_identity_is_numbered_from_one_without_gaps(self, bridged, identify):
        identify(email=EMAILS[2], phone=PHONES[0])
        by_identity: dict[int, list[int]] = {}
        for event in sequenced():
            for identity_id, sequence in event.streams:
                by_identity.setdefault(identity_id, []).append(sequence)

        for sequences in by_identity.values():
            assert sequences == list(range(1, len(sequences) + 1))

    def test_sequencing_again_makes_nothing_twice(self, bridged):
        first = sequenced()

        assert events_sequence() == 0
        assert sequenced() == first
        assert OutboxEvent.objects.count() == ClusterEvent.objects.count()

    def test_a_full_batch_is_followed_by_the_rest(self, identify):
        for index in range(7):
            identify(email=f"c{index}@example.com")

        assert events_sequence(batch_size=3) == 7
        assert list(OutboxEvent.objects.values_list("history_id", flat=True)) == list(
            ClusterEvent.objects.order_by("id").values_list("id", flat=True)
        )


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_makes_no_event(bridged):
    def delete_then_fail() -> None:
        with transaction.atomic():
            contacts_soft_delete(contact_ids=[bridged[1]])
            raise RuntimeError("the caller's transaction fails after the change")

    with pytest.raises(RuntimeError):
        delete_then_fail()

    assert of_type(sequenced(), "identity.contact_changed") == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_row_that_commits_after_a_later_one_is_not_skipped(identify, monkeypatch):
    """A transaction takes a history id, then waits; a later request commits a higher id. The
    sequencer takes the later one and keeps its floor below the open one, however many rounds
    run, until it commits."""
    monkeypatch.setattr(events_service, "SETTLE_MARGIN", 0.0)
    early = identify(email=EMAILS[0], phone=PHONES[0])["primaryContactId"]
    events_sequence()
    with transaction_held_open(lambda: contacts_soft_delete(contact_ids=[early])):
        late = identify(email=EMAILS[1])["primaryContactId"]
        for _ in range(4):
            events_sequence()
        pending_id = ClusterEvent.objects.filter(contact_id=late).get().id
        assert OutboxEvent.objects.filter(history_id=pending_id).exists()
        assert EventSequencer.objects.get().floor < pending_id
        assert of_type(sequenced(), "identity.contact_changed") == []

    (deleted,) = of_type(sequenced(), "identity.contact_changed")
    assert deleted.data["contactId"] == early
    for _ in range(3):
        events_sequence()
    assert EventSequencer.objects.get().floor >= pending_id


@pytest.mark.django_db(transaction=True)
def test_events_begin_with_the_upgrade_that_brought_them(identify):
    """The history written before the events' migration is not replayed as events."""
    before_events = [("contacts", "0010_contact_linked_without_constraint")]
    MigrationExecutor(connection).migrate(before_events)
    old = ClusterEvent.objects.create(
        kind=EventKind.PRIMARY_CREATED, source=Source.API, contact_id=1, primary_id=1
    )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert EventSequencer.objects.get().floor == old.id
    identify(email=EMAILS[0])
    assert [event.history_id for event in sequenced()] == [old.id + 1]


class TestFloor:
    def test_without_a_horizon_every_id_read_is_settled(self):
        assert floor_advance(
            floor=3, checkpoints=[], last_id=9, horizon=None, now=0.0, margin=5.0
        ) == (9, [])

    def test_a_checkpoint_waits_for_the_margin_then_for_its_barrier(self):
        floor, waiting = floor_advance(
            floor=0, checkpoints=[], last_id=10, horizon=Horizon(xmin=5, xmax=8), now=0.0, margin=5
        )
        assert (floor, waiting) == (0, [Checkpoint(last_id=10, read_at=0.0)])

        floor, waiting = floor_advance(
            floor=0,
            checkpoints=waiting,
            last_id=10,
            horizon=Horizon(xmin=6, xmax=9),
            now=6.0,
            margin=5,
        )
        assert (floor, waiting) == (0, [Checkpoint(last_id=10, read_at=0.0, barrier=9)])

        floor, waiting = floor_advance(
            floor=0,
            checkpoints=waiting,
            last_id=10,
            horizon=Horizon(xmin=8, xmax=12),
            now=7.0,
            margin=5,
        )
        assert floor == 0

        floor, waiting = floor_advance(
            floor=0,
            checkpoints=waiting,
            last_id=10,
            horizon=Horizon(xmin=9, xmax=12),
            now=8.0,
            margin=5,
        )
        assert (floor, waiting) == (10, [])


def test_an_event_is_built_from_ids_and_kinds_only():
    row = HistoryRow(
        id=7,
        kind=EventKind.EDITED,
        source="admin",
        contact_id=3,
        primary_id=1,
        details={"email": ["a@example.com", "b@example.com"], "phone_number": ["1", "1"]},
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )

    draft = event_from_history(row)

    assert draft.type == "identity.contact_changed"
    assert draft.data == {
        "identityId": 1,
        "contactId": 3,
        "change": "edited",
        "fields": ["email"],
        "source": "admin",
    }
