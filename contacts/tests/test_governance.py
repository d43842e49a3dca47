"""Identifier governance (docs/governance.md): blocked values link no one, on every path that
writes (the API, imports, corrections, rebuilds); a write that would grow an identity past its
size limit is held for a person, who approves or rejects it."""

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from contacts.exceptions import CorrectionError
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
    IdentityLink,
    MatchType,
)
from contacts.selectors.governance import governance_preview
from contacts.services.corrections import contact_edit, contacts_restore
from contacts.services.governance import identifier_block, identifier_unblock
from contacts.services.held_merges import held_merge_approve, held_merge_reject
from contacts.tests.conftest import identify_body
from contacts.tests.graph_model import assert_invariants

pytestmark = pytest.mark.django_db

SHARED_EMAIL = "frontdesk@shop.example"


def primaries() -> set[int]:
    return set(Contact.live.filter(linked__isnull=True).values_list("id", flat=True))


def reconcile_check_is_clean() -> None:
    call_command("reconcile", "--check", "--no-progress", stdout=io.StringIO())


def block(value: str, *, kind: IdentifierKind = IdentifierKind.EMAIL, match=MatchType.EXACT):
    return identifier_block(kind=kind, match=match, value=value, reason="shared at the counter")


@pytest.fixture
def post_identify(api_client):
    """POST /identify/ and return the whole response, whatever its status."""

    def post(*, email=None, phone=None):
        body = identify_body(
            **{key: value for key, value in (("email", email), ("phone", phone)) if value}
        )
        return api_client.post("/identify/", body, format="json")

    return post


@pytest.fixture
def clusters_of_three(identify):
    """Two identities of three contacts each: A (older, phone 1001) and B (phone 2002)."""
    for i in range(3):
        identify(email=f"a{i}@example.com", phone="1001")
        identify(email=f"b{i}@example.com", phone="2002")
    return identify(phone="1001")["primaryContactId"], identify(phone="2002")["primaryContactId"]


class TestShippedBlocklist:
    def test_placeholder_email_with_two_phones_gives_two_primaries(self, identify):
        first = identify(email="test@test.com", phone="5550001")
        second = identify(email="TEST@test.com", phone="5550002")

        assert first["primaryContactId"] != second["primaryContactId"]
        assert primaries() == {first["primaryContactId"], second["primaryContactId"]}
        assert second["emails"] == ["test@test.com"]
        assert second["secondaryContactIds"] == []
        reconcile_check_is_clean()

    def test_one_repeated_digit_links_no_one(self, identify):
        first = identify(email="marty@example.com", phone="0000000000")
        second = identify(email="doc@example.com", phone="000-000-0000")

        assert first["primaryContactId"] != second["primaryContactId"]

    def test_short_repeated_digits_and_spec_examples_are_not_blocked(self, identify):
        identify(email="lorraine@hillvalley.edu", phone="123456")
        answer = identify(email="mcfly@hillvalley.edu", phone="123456")

        assert answer["emails"] == ["lorraine@hillvalley.edu", "mcfly@hillvalley.edu"]
        assert len(identify(email="a@example.com", phone="111")["secondaryContactIds"]) == 0
        assert len(identify(email="b@example.com", phone="111")["secondaryContactIds"]) == 1


class TestRequestsWithBlockedValues:
    @pytest.mark.parametrize(
        ("body", "fields"),
        [
            ({"email": "test@test.com"}, ["email"]),
            ({"phone": "1111111"}, ["phoneNumber"]),
            ({"email": "NoEmail@NoEmail.com", "phone": "+99999999"}, ["email", "phoneNumber"]),
        ],
    )
    def test_only_blocked_values_is_422_naming_the_fields_and_writes_nothing(
        self, post_identify, body, fields
    ):
        response = post_identify(**body)

        assert response.status_code == 422
        payload = response.json()
        assert payload["code"] == "blocked_identifier"
        assert sorted(payload["errors"]) == sorted(fields)
        assert "test@test.com" not in response.content.decode()
        assert not Contact.objects.exists()
        assert not ClusterEvent.objects.exists()

    def test_the_lookup_refuses_blocked_values_too(self, api_client, identify):
        identify(email="test@test.com", phone="5550001")

        refused = api_client.post("/identities/lookup/", {"email": "test@test.com"}, format="json")
        found = api_client.post(
            "/identities/lookup/",
            {"email": "test@test.com", "phoneNumber": "5550001"},
            format="json",
        )

        assert refused.status_code == 422
        assert refused.json()["code"] == "blocked_identifier"
        assert found.status_code == 200
        assert found.json()["contact"]["emails"] == ["test@test.com"]

    def test_a_blocked_value_new_to_a_cluster_adds_no_contact(self, identify):
        known = identify(email="marty@example.com", phone="5550001")

        answer = identify(email="test@test.com", phone="5550001")

        assert answer == known
        assert Contact.objects.count() == 1

    def test_a_blocked_value_is_stored_with_the_new_contact_it_came_with(self, identify):
        answer = identify(email="test@test.com", phone="5550001")

        contact = Contact.objects.get()
        assert (contact.email, contact.phone_number) == ("test@test.com", "5550001")
        assert answer["emails"] == ["test@test.com"]

    def test_a_request_is_matched_by_its_other_value_only(self, identify):
        first = identify(email="test@test.com", phone="5550001")
        marty = identify(email="marty@example.com", phone="5550002")

        answer = identify(email="test@test.com", phone="5550002")

        assert answer["primaryContactId"] == marty["primaryContactId"]
        assert first["primaryContactId"] in primaries()
        assert Contact.objects.count() == 2


class TestBlockingAsACorrection:
    @pytest.fixture
    def merged_by_shared_email(self, identify):
        first = identify(email=SHARED_EMAIL, phone="5550001")
        identify(email=SHARED_EMAIL, phone="5550002")
        return first["primaryContactId"]

    def test_preview_shows_the_split_and_writes_nothing(self, merged_by_shared_email):
        preview = governance_preview(
            kind=IdentifierKind.EMAIL, match=MatchType.EXACT, value=SHARED_EMAIL, block=True
        )

        assert preview.values == [SHARED_EMAIL]
        assert preview.contacts == 2
        [split] = preview.splits
        assert (split.primary_id, split.size) == (merged_by_shared_email, 2)
        assert [size for _, size in split.parts] == [1, 1]
        assert preview.merges == []
        assert not BlockedIdentifier.objects.filter(value=SHARED_EMAIL).exists()
        assert len(primaries()) == 1

    def test_blocking_splits_the_people_it_held_together_with_history(
        self, merged_by_shared_email, identify
    ):
        result = block(SHARED_EMAIL)

        assert len(primaries()) == 2
        [change] = result.reconciled.clusters
        assert change.kind == EventKind.SPLIT
        event = ClusterEvent.objects.get(kind=EventKind.SPLIT)
        assert event.details["reason"] == "identifier blocked (shared at the counter)"
        assert identify(phone="5550002")["emails"] == [SHARED_EMAIL]
        assert identify(phone="5550002")["primaryContactId"] != merged_by_shared_email
        reconcile_check_is_clean()
        assert_invariants()

    def test_unblocking_merges_them_again_with_history(self, merged_by_shared_email):
        entry = block(SHARED_EMAIL).entry
        preview = governance_preview(
            kind=entry.kind, match=entry.match, value=entry.value, block=False
        )

        identifier_unblock(entry=entry)

        assert [merge.size for merge in preview.merges] == [2]
        assert primaries() == {merged_by_shared_email}
        assert ClusterEvent.objects.filter(kind=EventKind.MERGED).exists()
        reconcile_check_is_clean()

    def test_a_link_record_with_a_blocked_value_is_no_edge(self, identify):
        identify(email="marty@example.com", phone="5550001")
        identify(email="doc@example.com", phone="5550002")
        identify(email="marty@example.com", phone="5550002")
        assert IdentityLink.objects.filter(email="marty@example.com").exists()
        identify(email="biff@example.com", phone="5550003")

        block("5550002", kind=IdentifierKind.PHONE)

        assert IdentityLink.objects.get(email="marty@example.com").blocked
        marty = identify(email="marty@example.com")
        assert marty["phoneNumbers"] == ["5550001"]
        assert identify(email="doc@example.com")["primaryContactId"] != marty["primaryContactId"]
        reconcile_check_is_clean()

    def test_a_pattern_blocks_every_value_it_matches_whole(self, identify):
        identify(email="a@example.com", phone="+15550100")
        identify(email="b@example.com", phone="+15550100")
        identify(email="c@example.com", phone="+155501000")

        block(r"\+1555010\d", kind=IdentifierKind.PHONE, match=MatchType.PATTERN)

        assert len(primaries()) == 3
        assert identify(phone="+155501000")["emails"] == ["c@example.com"]
        reconcile_check_is_clean()

    def test_blocking_the_same_entry_twice_is_refused(self):
        block(SHARED_EMAIL)

        with pytest.raises(CorrectionError):
            block(SHARED_EMAIL)


class TestOtherWritersKeepBlockedValuesApart:
    def test_an_edit_to_a_blocked_value_merges_no_one(self, identify):
        identify(email="test@test.com", phone="5550001")
        other = identify(email="marty@example.com", phone="5550002")

        contact_edit(
            contact_id=other["primaryContactId"], email="test@test.com", phone_number="5550002"
        )

        assert len(primaries()) == 2
        reconcile_check_is_clean()

    def test_an_import_keeps_customers_sharing_a_blocked_value_apart(self, tmp_path: Path):
        path = tmp_path / "orders.csv"
        path.write_text(
            "email,phone\n"
            "test@test.com,5550001\n"
            "test@test.com,5550002\n"
            "test@test.com,\n"
            ",0000000000\n"
        )

        call_command("import_contacts", str(path), "--write", "--no-progress", stdout=io.StringIO())

        assert Contact.objects.count() == 2
        assert len(primaries()) == 2
        reconcile_check_is_clean()

    def test_a_rebuild_splits_what_was_merged_before_the_value_was_blocked(self, make_contact):
        first = make_contact(email="test@test.com", phone="5550001")
        make_contact(email="test@test.com", phone="5550002", linked=first)

        with pytest.raises(CommandError):
            reconcile_check_is_clean()
        call_command("reconcile", "--no-progress", stdout=io.StringIO())

        assert len(primaries()) == 2
        reconcile_check_is_clean()

    def test_a_rebuild_flags_link_records_written_before_the_blocklist(self, make_contact):
        make_contact(email="test@test.com", phone="5550001")
        make_contact(email="marty@example.com", phone="5550002")
        link = IdentityLink.objects.create(email="test@test.com", phone_number="5550002")

        call_command("reconcile", "--no-progress", stdout=io.StringIO())

        link.refresh_from_db()
        assert link.blocked
        reconcile_check_is_clean()


@pytest.fixture
def limit_of_five(settings):
    settings.IDENTITY_MAX_CLUSTER_SIZE = 5


@pytest.mark.usefixtures("limit_of_five")
class TestHeldMerges:
    def test_a_bridge_of_two_clusters_of_three_leaves_both_unchanged(
        self, clusters_of_three, identify
    ):
        a, b = clusters_of_three

        answer = identify(email="b0@example.com", phone="1001")

        assert answer["primaryContactId"] == a
        assert len(answer["secondaryContactIds"]) == 2
        assert primaries() == {a, b}
        assert not IdentityLink.objects.exists()
        held = HeldMerge.objects.get()
        assert (held.kind, held.primary_id, held.other_primary_ids) == (HeldMergeKind.MERGE, a, [b])
        assert (held.size, held.limit, held.status) == (6, 5, HeldMergeStatus.PENDING)
        assert (held.email, held.phone_number) == ("b0@example.com", "1001")
        reconcile_check_is_clean()

    def test_the_answer_is_the_older_cluster_whichever_value_brought_it(
        self, clusters_of_three, identify
    ):
        a, _ = clusters_of_three

        assert identify(email="a0@example.com", phone="2002")["primaryContactId"] == a

    def test_a_recurring_held_merge_is_one_row_counted_up(self, clusters_of_three, identify):
        for _ in range(3):
            identify(email="b0@example.com", phone="1001")

        held = HeldMerge.objects.get()
        assert held.occurrences == 3
        assert held.last_seen_at >= held.first_seen_at

    def test_a_cluster_at_its_limit_does_not_grow(self, identify):
        for i in range(5):
            identify(email=f"a{i}@example.com", phone="1001")
        primary = identify(phone="1001")

        answer = identify(email="new@example.com", phone="1001")

        assert answer == identify(phone="1001")
        assert not Contact.objects.filter(email="new@example.com").exists()
        held = HeldMerge.objects.get()
        assert (held.kind, held.primary_id, held.size) == (
            HeldMergeKind.GROWTH,
            primary["primaryContactId"],
            6,
        )

    def test_approving_applies_the_merge_past_the_limit(self, clusters_of_three, identify):
        a, _ = clusters_of_three
        identify(email="b0@example.com", phone="1001")
        held = HeldMerge.objects.get()

        identity = held_merge_approve(held=held, raise_limit=False)

        assert identity.primary_id == a
        assert len(identity.secondary_ids) == 5
        assert primaries() == {a}
        held.refresh_from_db()
        assert held.status == HeldMergeStatus.APPROVED
        identify(email="more@example.com", phone="1001")
        assert not Contact.objects.filter(email="more@example.com").exists()
        held.refresh_from_db()
        assert held.status == HeldMergeStatus.APPROVED
        reconcile_check_is_clean()

    def test_approving_with_a_raised_limit_lets_the_identity_grow(
        self, clusters_of_three, identify
    ):
        a, _ = clusters_of_three
        identify(email="b0@example.com", phone="1001")

        held_merge_approve(held=HeldMerge.objects.get(), raise_limit=True)

        assert ClusterLimit.objects.get().max_size == 6 + 5
        identify(email="more@example.com", phone="1001")
        assert Contact.objects.get(email="more@example.com").linked_id == a

    def test_rejecting_for_good_keeps_the_pair_apart_even_without_a_limit(
        self, clusters_of_three, identify, settings
    ):
        a, b = clusters_of_three
        identify(email="b0@example.com", phone="1001")
        held = HeldMerge.objects.get()

        held_merge_reject(held=held, never_link=True)
        settings.IDENTITY_MAX_CLUSTER_SIZE = 0
        answer = identify(email="b0@example.com", phone="1001")

        assert answer["primaryContactId"] == a
        assert primaries() == {a, b}
        held.refresh_from_db()
        assert (held.status, held.never_link, held.occurrences) == (
            HeldMergeStatus.REJECTED,
            True,
            2,
        )
        identify(email="a0@example.com", phone="2002")
        assert primaries() == {a}

    def test_approving_a_pair_rejected_for_good_links_it(self, clusters_of_three, identify):
        a, _ = clusters_of_three
        identify(email="b0@example.com", phone="1001")
        held = HeldMerge.objects.get()
        held_merge_reject(held=held, never_link=True)

        identity = held_merge_approve(held=held, raise_limit=False)

        assert identity.primary_id == a
        assert primaries() == {a}
        held.refresh_from_db()
        assert (held.status, held.never_link) == (HeldMergeStatus.APPROVED, False)

    def test_an_edit_that_would_pass_the_limit_is_refused(self, clusters_of_three):
        _, b = clusters_of_three
        secondary = Contact.objects.filter(linked_id=b).first()

        with pytest.raises(CorrectionError, match="size limit"):
            contact_edit(contact_id=secondary.id, email="a0@example.com", phone_number="2002")

        assert len(primaries()) == 2

    def test_a_restore_that_would_pass_the_limit_is_refused(self, clusters_of_three, make_contact):
        a, b = clusters_of_three
        bridge = make_contact(email="b0@example.com", phone="1001", deleted=True)

        with pytest.raises(CorrectionError, match="size limit"):
            contacts_restore(contact_ids=[bridge.id])

        assert primaries() == {a, b}
        assert Contact.objects.get(id=bridge.id).deleted_at is not None

    def test_check_reports_identities_past_their_limit_without_failing(
        self, clusters_of_three, identify
    ):
        identify(email="b0@example.com", phone="1001")
        held_merge_approve(held=HeldMerge.objects.get(), raise_limit=False)
        out = io.StringIO()

        call_command("reconcile", "--check", "--no-progress", stdout=out)

        assert "1 cluster is past the size limit" in out.getvalue()

    def test_an_import_past_the_limit_writes_nothing_without_the_flag(
        self, clusters_of_three, tmp_path: Path
    ):
        path = tmp_path / "orders.csv"
        path.write_text("email,phone\nb0@example.com,1001\n")

        with pytest.raises(CommandError, match="--allow-large-clusters"):
            call_command(
                "import_contacts",
                str(path),
                "--write",
                "--no-progress",
                stdout=io.StringIO(),
                stderr=io.StringIO(),
            )
        assert len(primaries()) == 2

        call_command(
            "import_contacts",
            str(path),
            "--write",
            "--allow-large-clusters",
            "--no-progress",
            stdout=io.StringIO(),
        )
        assert len(primaries()) == 1
        reconcile_check_is_clean()
