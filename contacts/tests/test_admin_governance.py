"""Identifier governance in the admin (docs/governance.md): blocking and unblocking values with a
preview, deciding held merges from the queue, who may do it, and the data-quality page's links.

Held merges are made as in production: by sending the requests that the supercluster guard
holds. After each decision, ``reconcile --check`` confirms that a rebuild agrees with the result.
"""

from io import StringIO

import pytest
from django.contrib.admin.models import ADDITION, DELETION, LogEntry
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from contacts.governance import Regrouping
from contacts.models import (
    BlockedIdentifier,
    ClusterEvent,
    ClusterLimit,
    Contact,
    EventKind,
    HeldMerge,
    HeldMergeKind,
    HeldMergeStatus,
    IdentifierKind,
    MatchType,
)
from contacts.roles import CORRECTIONS, GOVERNANCE, READ_ONLY
from contacts.services.governance import identifier_block

pytestmark = pytest.mark.django_db

BLOCKED = reverse("admin:contacts_blockedidentifier_changelist")
BLOCK = reverse("admin:contacts_blockedidentifier_add")
HELD = reverse("admin:contacts_heldmerge_changelist")
DATA_QUALITY = reverse("admin:contacts_cluster_data_quality")


def unblock_url(entry: BlockedIdentifier) -> str:
    return reverse("admin:contacts_blockedidentifier_delete", args=[entry.pk])


def primary_of(contact: Contact | int) -> int:
    contact = Contact.objects.get(pk=getattr(contact, "pk", contact))
    return contact.linked_id or contact.id


def cluster_size(primary_id: int) -> int:
    return (
        Contact.live.filter(pk=primary_id).count()
        + Contact.live.filter(linked_id=primary_id).count()
    )


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def assert_rebuild_agrees() -> None:
    """``reconcile --check`` finds nothing to fix: the stored decisions give these clusters."""
    call_command("reconcile", "--check", "--no-progress", stdout=StringIO())


def block_phone(value: str) -> BlockedIdentifier:
    return identifier_block(
        kind=IdentifierKind.PHONE, match=MatchType.EXACT, value=value, reason="shop's number"
    ).entry


@pytest.fixture
def governor(staff_client) -> Client:
    return staff_client(GOVERNANCE)


@pytest.fixture
def shared_phone(make_contact) -> tuple[Contact, Contact]:
    """Two customers whom only the shop's phone number, typed at both checkouts, links."""
    lorraine = make_contact(email="lorraine@example.com", phone="5550100")
    george = make_contact(email="george@example.com", phone="5550100", linked=lorraine)
    return lorraine, george


BLOCK_FORM = {"kind": "phone", "match": "exact", "value": "555-0100", "reason": "shop's number"}


class TestBlock:
    def test_the_preview_shows_the_split_and_writes_nothing(self, governor, shared_phone):
        lorraine, george = shared_phone

        response = governor.post(BLOCK, BLOCK_FORM)

        assert response.status_code == 200
        preview = response.context["preview"]
        assert preview.values == ["5550100"]
        assert preview.contacts == 2
        assert preview.splits == [
            Regrouping(primary_id=lorraine.id, size=2, parts=[(lorraine.id, 1), (george.id, 1)])
        ]
        page = response.content.decode()
        assert f'<a href="{reverse("admin:contacts_cluster_change", args=[george.id])}">' in page
        assert 'name="value" value="5550100"' in page
        assert 'name="confirm" value="Block"' in page
        assert not BlockedIdentifier.objects.filter(value="5550100").exists()
        assert primary_of(george) == lorraine.id
        assert not ClusterEvent.objects.exists()

    def test_confirming_blocks_the_value_and_splits_the_identity(
        self, governor, shared_phone, django_user_model
    ):
        lorraine, george = shared_phone

        response = governor.post(BLOCK, {**BLOCK_FORM, "value": "5550100", "confirm": "Block"})

        assert response.status_code == 302
        assert response.url == BLOCKED
        entry = BlockedIdentifier.objects.get(kind="phone", value="5550100")
        assert entry.added_by == django_user_model.objects.get(username=f"staff-{GOVERNANCE}")
        assert (primary_of(lorraine), primary_of(george)) == (lorraine.id, george.id)
        assert ClusterEvent.objects.filter(kind=EventKind.SPLIT).exists()
        [message] = messages_of(response)
        assert message.startswith("Blocked Phone number 5550100. Cluster split")
        assert LogEntry.objects.get(object_id=str(entry.pk)).action_flag == ADDITION
        assert_rebuild_agrees()

    def test_the_form_is_prefilled_from_the_query_string(self, governor):
        response = governor.get(BLOCK, {"kind": "phone", "value": "5550100", "match": "exact"})

        assert response.status_code == 200
        form = response.context["form"]
        assert (form["kind"].value(), form["value"].value()) == ("phone", "5550100")

    def test_an_invalid_pattern_is_a_form_error(self, governor):
        response = governor.post(
            BLOCK, {**BLOCK_FORM, "match": "pattern", "value": "(", "confirm": "Block"}
        )

        assert response.status_code == 200
        assert "Not a regular expression" in response.content.decode()
        assert not BlockedIdentifier.objects.filter(value="(").exists()

    def test_a_value_blocked_already_is_a_form_error_not_a_crash(self, governor, shared_phone):
        block_phone("5550100")

        preview = governor.post(BLOCK, BLOCK_FORM)
        confirm = governor.post(BLOCK, {**BLOCK_FORM, "confirm": "Block"})

        for response in (preview, confirm):
            assert response.status_code == 200
            assert "This value is blocked already." in response.content.decode()
        assert BlockedIdentifier.objects.filter(value="5550100").count() == 1

    def test_entries_are_never_changed_in_place(self, governor):
        entry = block_phone("5550100")
        change = reverse("admin:contacts_blockedidentifier_change", args=[entry.pk])

        response = governor.post(change, {**BLOCK_FORM, "value": "5550199"})

        assert response.status_code == 403
        assert governor.get(BLOCKED).context["action_form"] is None


class TestUnblock:
    def test_the_preview_shows_the_merge_then_unblocking_merges(self, governor, shared_phone):
        lorraine, george = shared_phone
        entry = block_phone("5550100")

        preview = governor.get(unblock_url(entry))

        assert preview.status_code == 200
        assert preview.context["preview"].merges == [
            Regrouping(primary_id=lorraine.id, size=2, parts=[(lorraine.id, 1), (george.id, 1)])
        ]
        assert "governance-over-limit" not in preview.content.decode()
        assert primary_of(george) == george.id

        response = governor.post(unblock_url(entry))

        assert response.status_code == 302
        assert not BlockedIdentifier.objects.filter(pk=entry.pk).exists()
        assert primary_of(george) == lorraine.id
        assert ClusterEvent.objects.filter(kind=EventKind.MERGED).exists()
        assert messages_of(response)[0].startswith("Unblocked Phone number 5550100.")
        assert LogEntry.objects.get(action_flag=DELETION).object_id == str(entry.pk)
        assert_rebuild_agrees()

    def test_the_preview_warns_of_identities_past_the_size_limit(
        self, governor, make_contact, settings
    ):
        settings.IDENTITY_MAX_CLUSTER_SIZE = 2
        entry = block_phone("5550100")
        first = make_contact(email="a@example.com", phone="5550100")
        for name in ("b", "c"):
            make_contact(email=f"{name}@example.com", phone="5550100")

        page = governor.get(unblock_url(entry)).content.decode()

        assert 'id="governance-over-limit"' in page
        assert f"#{first.id}</a> (3)" in page


# --- Held merges ---------------------------------------------------------------------------------


@pytest.fixture
def held_merge(settings, identify) -> tuple[int, int, HeldMerge]:
    """Two identities of 3 contacts with a limit of 5, and the request that would join them."""
    settings.IDENTITY_MAX_CLUSTER_SIZE = 5
    for email, phones in (("a@example.com", "100 101 102"), ("b@example.com", "200 201 202")):
        for phone in phones.split():
            identify(email=email, phone=phone)
    first, second = (
        primary_of(Contact.objects.get(phone_number="100")),
        primary_of(Contact.objects.get(phone_number="200")),
    )

    answer = identify(email="a@example.com", phone="200")

    assert answer["primaryContactId"] == first
    assert (cluster_size(first), cluster_size(second)) == (3, 3)
    return first, second, HeldMerge.objects.get(email="a@example.com", phone_number="200")


def act(client: Client, action: str, *held: HeldMerge, queue: str = HELD):
    return client.post(queue, {"action": action, "_selected_action": [h.pk for h in held]})


class TestHeldMerges:
    def test_the_queue_lists_the_pending_held_merges(self, governor, held_merge):
        first, second, held = held_merge
        decided = HeldMerge.objects.create(
            email="c@example.com",
            phone_number="300",
            kind=HeldMergeKind.MERGE,
            primary_id=first,
            size=9,
            limit=5,
            status=HeldMergeStatus.REJECTED,
        )

        queue = governor.get(HELD)
        every = governor.get(HELD, {"status": "all"})

        assert [row.pk for row in queue.context["cl"].result_list] == [held.pk]
        assert {row.pk for row in every.context["cl"].result_list} == {held.pk, decided.pk}
        page = queue.content.decode()
        assert f'<a href="{reverse("admin:contacts_cluster_change", args=[second])}">' in page
        assert (held.kind, held.size, held.limit) == (HeldMergeKind.MERGE, 6, 5)

    def test_approving_applies_the_merge(self, governor, held_merge):
        first, second, held = held_merge

        response = act(governor, "approve_selected", held)

        assert response.status_code == 302
        assert (cluster_size(first), primary_of(second)) == (6, first)
        held.refresh_from_db()
        assert held.status == HeldMergeStatus.APPROVED
        assert messages_of(response) == [
            f"Held merge #{held.pk} applied: identity #{first} now has 6 contacts."
        ]
        assert not ClusterLimit.objects.exists()
        assert_rebuild_agrees()

    def test_approving_with_a_raised_limit_stores_the_limit(self, governor, held_merge):
        """The raised limit is the new size plus ``IDENTITY_MAX_CLUSTER_SIZE`` (5 here): room to
        grow as a new identity may (``held_merge_approve``)."""
        first, _, held = held_merge

        response = act(governor, "approve_raising_limit_selected", held)

        assert cluster_size(first) == 6
        limit = ClusterLimit.objects.get()
        assert (limit.contact_id, limit.max_size, limit.held_merge) == (first, 11, held)
        assert messages_of(response) == [
            f"Held merge #{held.pk} applied: identity #{first} now has 6 contacts. "
            "It may grow to 11."
        ]

    def test_a_decided_held_merge_is_skipped(self, governor, held_merge):
        """Decided ones are listed under "All" only; selected there, they are left as they are."""
        _, _, held = held_merge
        act(governor, "dismiss_selected", held)

        response = act(governor, "approve_selected", held, queue=f"{HELD}?status=all")

        assert messages_of(response)[-1] == f"Held merge #{held.pk} is rejected already: skipped."
        held.refresh_from_db()
        assert (held.status, held.never_link) == (HeldMergeStatus.REJECTED, False)

    def test_rejecting_for_good_keeps_the_pair_apart(self, governor, held_merge, identify):
        first, second, held = held_merge

        act(governor, "reject_never_link_selected", held)
        answer = identify(email="a@example.com", phone="200")

        held.refresh_from_db()
        assert (held.status, held.never_link) == (HeldMergeStatus.REJECTED, True)
        assert answer["primaryContactId"] == first
        assert (cluster_size(first), cluster_size(second)) == (3, 3)
        assert_rebuild_agrees()

    def test_a_growth_is_not_rejected_for_good(self, governor, settings, identify):
        settings.IDENTITY_MAX_CLUSTER_SIZE = 3
        for phone in ("100", "101", "102", "103"):
            identify(email="a@example.com", phone=phone)
        held = HeldMerge.objects.get(kind=HeldMergeKind.GROWTH)

        response = act(governor, "reject_never_link_selected", held)

        [message] = messages_of(response)
        assert "adds a new contact to one identity" in message
        held.refresh_from_db()
        assert held.status == HeldMergeStatus.PENDING

    def test_rejecting_and_blocking_opens_the_prefilled_block_page(self, governor, held_merge):
        first, second, held = held_merge

        response = act(governor, "reject_blocking_phone_number", held)

        assert response.status_code == 302
        assert response.url == f"{BLOCK}?kind=phone&match=exact&value=200&held={held.pk}"
        page = governor.get(response.url)
        assert page.context["held"] == held
        assert page.context["form"]["value"].value() == "200"
        confirmed = governor.post(
            BLOCK,
            {
                "kind": "phone",
                "match": "exact",
                "value": "200",
                "reason": "bridged",
                "held": held.pk,
                "confirm": "Block",
            },
        )
        assert confirmed.status_code == 302
        held.refresh_from_db()
        assert (held.status, held.never_link) == (HeldMergeStatus.REJECTED, False)
        assert (cluster_size(first), cluster_size(second)) == (3, 3)

    def test_rejecting_and_blocking_needs_one_selected(self, governor, held_merge, identify):
        _, _, held = held_merge
        identify(email="b@example.com", phone="100")
        other = HeldMerge.objects.exclude(pk=held.pk).get()

        response = act(governor, "reject_blocking_email", held, other)

        assert response.status_code == 302
        assert response.url == HELD
        assert messages_of(response) == ["Select one pending held merge to block its email."]

    def test_dismissing_rejects_without_a_rule(self, governor, held_merge):
        _, _, held = held_merge

        response = act(governor, "dismiss_selected", held)

        held.refresh_from_db()
        assert (held.status, held.never_link) == (HeldMergeStatus.REJECTED, False)
        assert messages_of(response) == [f"Held merge #{held.pk} dismissed: no rule was added."]


# --- Who may govern ------------------------------------------------------------------------------


def test_the_corrections_role_cannot_govern(staff_client, shared_phone, held_merge):
    client = staff_client(CORRECTIONS)
    _, _, held = held_merge
    entry = block_phone("5550100")

    responses = [
        client.get(BLOCKED),
        client.get(BLOCK),
        client.post(BLOCK, {**BLOCK_FORM, "value": "5550101", "confirm": "Block"}),
        client.get(unblock_url(entry)),
        client.post(unblock_url(entry)),
        client.get(HELD),
        act(client, "approve_selected", held),
        act(client, "reject_never_link_selected", held),
    ]

    assert [response.status_code for response in responses] == [403] * len(responses)
    assert BlockedIdentifier.objects.filter(pk=entry.pk).exists()
    assert not BlockedIdentifier.objects.filter(value="5550101").exists()
    held.refresh_from_db()
    assert held.status == HeldMergeStatus.PENDING


# --- The data-quality page ------------------------------------------------------------------------


def test_block_links_are_shown_to_governors_only(staff_client, shared_phone, make_contact):
    first = make_contact(email="pat@example.com", phone="111")
    make_contact(email="pat@example.com", phone="222", linked=first)
    block_phone("5550100")
    link = f'href="{BLOCK}?kind=email&amp;match=exact&amp;value=pat%40example.com"'

    governor = staff_client(GOVERNANCE).get(DATA_QUALITY)
    corrections = staff_client(CORRECTIONS).get(DATA_QUALITY).content.decode()

    assert link in governor.content.decode()
    assert "block…" not in corrections
    rows = {item.value: blocked for item, blocked in governor.context["most_shared"]["phone"]}
    assert rows == {"5550100": True}
    assert "<strong>blocked</strong>" in corrections


def test_the_page_charts_held_merges_by_day(staff_client, held_merge):
    response = staff_client(GOVERNANCE).get(DATA_QUALITY)

    chart = response.context["held_chart"]
    assert len(chart.bars) == 30
    assert (chart.bars[-1].day, chart.bars[-1].held) == (timezone.localdate(), 1)
    assert chart.bars[-1].height > 0 == chart.bars[0].height
    assert response.context["held_pending"] == 1
    page = response.content.decode()
    assert 'id="held-merges"' in page
    assert f'href="{HELD}"' in page
    assert f'href="{HELD}"' not in staff_client(READ_ONLY).get(DATA_QUALITY).content.decode()
