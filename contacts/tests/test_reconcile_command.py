"""``manage.py reconcile`` repairs every kind of broken link (SPEC §2, §3, §6)."""

import os
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from contacts.models import ClusterEvent, Contact, EventKind, IdentityLink, LinkPrecedence, Source
from contacts.tests.graph_model import assert_invariants
from contacts.tests.test_import_contacts import read_all

pytestmark = [pytest.mark.django_db, pytest.mark.pooler]


def reconcile(*args: str) -> str:
    out = StringIO()
    call_command("reconcile", *args, "--no-progress", stdout=out)
    return out.getvalue()


def primary_of(contact: Contact) -> int:
    contact.refresh_from_db()
    return contact.linked_id or contact.id


@pytest.fixture
def corrupted(make_contact):
    """One cluster per kind of damage; returns the contacts and the primary each must end with."""
    # A chain of secondaries.
    chain_head = make_contact(email="chain@example.com", phone="100")
    chain_middle = make_contact(email="chain2@example.com", phone="100", linked=chain_head)
    chain_tail = make_contact(email="chain2@example.com", phone="101", linked=chain_middle)
    # A primary that is not the oldest of its cluster.
    young = make_contact(email="young@example.com", phone="200")
    old = make_contact(email="old@example.com", phone="200", linked=young)
    Contact.objects.filter(id=old.id).update(created_at=young.created_at.replace(year=2020))
    # Secondaries of a soft-deleted primary.
    gone = make_contact(email="gone@example.com", phone="300", deleted=True)
    orphan = make_contact(email="orphan@example.com", phone="300", linked=gone)
    orphan_sibling = make_contact(email="sibling@example.com", phone="300", linked=gone)
    # Two clusters that share an identifier.
    first = make_contact(email="shared@example.com", phone="400")
    second = make_contact(email="shared@example.com", phone="401")
    # Clusters joined by a link record whose email is on no contact any more.
    held = make_contact(email="held@example.com", phone="500")
    loose = make_contact(email="loose@example.com", phone="501", linked=held)
    IdentityLink.objects.create(email="vanished@example.com", phone_number="501")
    return {
        chain_head: chain_head,
        chain_middle: chain_head,
        chain_tail: chain_head,
        young: old,
        old: old,
        orphan: orphan,
        orphan_sibling: orphan,
        first: first,
        second: first,
        held: held,
        loose: loose,
    }


def test_check_lists_every_damaged_contact_and_exits_1(corrupted):
    out = StringIO()

    with pytest.raises(CommandError, match="7 contacts differ") as raised:
        call_command("reconcile", "--check", "--no-progress", stdout=out)

    assert raised.value.returncode == 1
    lines = out.getvalue().splitlines()
    assert len(lines) == 8
    tail = next(
        c
        for c, p in corrupted.items()
        if c.email == "chain2@example.com" and c.phone_number == "101"
    )
    assert (
        f"contact #{tail.id}: secondary of #{tail.linked_id} -> secondary of #{corrupted[tail].id}"
        in lines
    )
    assert lines[-1].startswith("11 contacts read, 6 clusters, 7 differ, 0 changed")


def test_rebuild_repairs_every_kind_of_damage_and_check_is_clean_afterwards(corrupted):
    summary = reconcile()

    assert "7 differ, 7 changed" in summary
    for contact, primary in corrupted.items():
        assert primary_of(contact) == primary.id, contact
    assert_invariants()
    assert (
        reconcile("--check").splitlines()[-1].startswith("11 contacts read, 6 clusters, 0 differ")
    )


def test_repairs_are_recorded_in_the_history_as_made_by_the_command(corrupted):
    reconcile()

    events = ClusterEvent.objects.all()
    assert events.count() == 5
    assert set(events.values_list("kind", "source")) == {(EventKind.REPAIRED, Source.COMMAND)}
    old = next(contact for contact in corrupted if contact.email == "old@example.com")
    young = next(contact for contact in corrupted if contact.email == "young@example.com")
    repair = events.get(primary_id=old.id)
    assert repair.details["relinked"] == sorted([old.id, young.id])


def test_a_rebuild_with_nothing_to_fix_writes_nothing(identify):
    identify(email="a@example.com", phone="111")
    identify(email="b@example.com", phone="111")
    identify(email="c@example.com", phone="222")
    identify(email="a@example.com", phone="222")
    before = list(Contact.objects.values_list("id", "linked_id", "link_precedence", "updated_at"))
    events = ClusterEvent.objects.count()

    summary = reconcile()

    assert "0 differ, 0 changed" in summary
    assert (
        list(Contact.objects.values_list("id", "linked_id", "link_precedence", "updated_at"))
        == before
    )
    assert ClusterEvent.objects.count() == events


def test_dry_run_prints_the_changes_and_makes_none(corrupted):
    before = list(Contact.objects.order_by("id").values_list("id", "linked_id", "link_precedence"))

    output = reconcile("--dry-run")

    assert len(output.splitlines()) == 8
    assert "7 differ, 0 changed" in output
    assert (
        list(Contact.objects.order_by("id").values_list("id", "linked_id", "link_precedence"))
        == before
    )
    assert ClusterEvent.objects.count() == 0


class TestScope:
    def test_an_email_scope_repairs_its_cluster_only(self, corrupted):
        output = reconcile("--email", " SHARED@example.com ")

        assert "2 contacts read, 1 cluster, 1 differs, 1 changed" in output
        first, second = (c for c in corrupted if c.email == "shared@example.com")
        assert primary_of(second) == first.id
        with pytest.raises(CommandError, match="6 contacts differ"):
            reconcile("--check")

    def test_a_phone_scope_reaches_the_whole_component(self, corrupted):
        out = StringIO()

        with pytest.raises(CommandError, match="1 contact differs"):
            call_command("reconcile", "--phone", "401", "--check", stdout=out)

        first, second = (c for c in corrupted if c.email == "shared@example.com")
        *changes, summary = out.getvalue().splitlines()
        assert changes == [f"contact #{second.id}: primary -> secondary of #{first.id}"]
        assert summary.startswith("2 contacts read, 1 cluster, 1 differs")

    def test_a_contact_scope_repairs_the_cluster_of_that_contact(self, corrupted):
        tail = next(c for c in corrupted if c.phone_number == "101")

        reconcile("--contact", str(tail.id))

        assert primary_of(tail) == corrupted[tail].id
        assert "0 differ" in reconcile("--contact", str(tail.id), "--check")

    def test_an_unknown_contact_or_an_invalid_identifier_is_refused(self, db):
        with pytest.raises(CommandError, match="No contact with id 999"):
            reconcile("--contact", "999")
        with pytest.raises(CommandError, match="Invalid scope"):
            reconcile("--email", "not-an-email")

    def test_a_healthy_scope_passes_the_check(self, identify):
        identify(email="a@example.com", phone="111")

        assert "1 contact read, 1 cluster, 0 differ" in reconcile(
            "--email", "a@example.com", "--check"
        )


def test_the_rebuild_works_in_batches_of_whole_clusters(corrupted):
    summary = reconcile("--batch-size", "1")

    assert "7 differ, 7 changed" in summary
    assert_invariants()


def test_secondaries_of_a_deleted_primary_get_the_oldest_live_contact(corrupted):
    orphan = next(c for c in corrupted if c.email == "orphan@example.com")

    reconcile()

    orphan.refresh_from_db()
    assert orphan.link_precedence == LinkPrecedence.PRIMARY


def test_a_dry_run_finds_what_the_repair_then_changes(corrupted):
    dry = reconcile("--dry-run").splitlines()[-1]
    written = reconcile().splitlines()[-1]

    assert dry.startswith("11 contacts read, 6 clusters, 7 differ, 0 changed; ")
    assert dry.endswith("(nothing written).")
    assert written.startswith("11 contacts read, 6 clusters, 7 differ, 7 changed; ")


def test_a_scoped_run_says_what_it_did_not_check(corrupted):
    first = next(c for c in corrupted if c.email == "shared@example.com")

    summary = reconcile("--contact", str(first.id), "--dry-run").splitlines()[-1]

    assert "canonical form and blocked flags not checked in a scoped run" in summary


def test_progress_is_shown_on_a_terminal_only(corrupted):
    controller, terminal = os.openpty()
    with os.fdopen(terminal, "w") as stderr:
        call_command("reconcile", stdout=StringIO(), stderr=stderr)
    shown = read_all(controller)
    piped = StringIO()
    call_command("reconcile", stdout=StringIO(), stderr=piped)

    assert "reading: 100%" in shown
    assert "fixing: 100%" in shown
    assert "<00:00" in shown  # the time left
    assert piped.getvalue() == ""
