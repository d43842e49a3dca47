"""Erasure of a person (docs/privacy.md): what goes from every table, what is re-formed, what is
kept, suppression, the ledger after a restore, and ``manage.py erase_person``, on both databases.
"""

import io
import json
import subprocess
from pathlib import Path

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command
from django.db import connection

from contacts.exceptions import IdentifiersSuppressed, IdentityNotFound
from contacts.models import (
    BlockedIdentifier,
    ClusterEvent,
    Contact,
    ErasedIdentifier,
    Erasure,
    ErasureScope,
    EventKind,
    HeldMerge,
    IdentityLink,
    Source,
)
from contacts.rules import scrub, scrub_text
from contacts.selectors.privacy import ErasureSubject
from contacts.services.corrections import contact_edit, contacts_restore, contacts_soft_delete
from contacts.services.erasure import Requester, person_erase
from contacts.services.identify import contact_identify
from contacts.tests.graph_model import assert_invariants

pytestmark = pytest.mark.django_db

BRIDGE = "x.bridge@example.com"
REQUESTER = Requester(source=Source.COMMAND, name="test")


@pytest.fixture
def bridged_by_email() -> dict[str, int]:
    """Ann and Bob, two customers, joined by one email typed with each one's phone: a secondary
    (the email with Ann's phone) and a link record (the email with Bob's phone)."""
    ann = contact_identify(email="ann@example.com", phone_number="5551001")
    bob = contact_identify(email="bob@example.com", phone_number="5551002")
    contact_identify(email=BRIDGE, phone_number="5551001")
    merged = contact_identify(email=BRIDGE, phone_number="5551002")
    assert merged.primary_id == ann.primary_id
    assert IdentityLink.objects.filter(email=BRIDGE).exists()
    return {"ann": ann.primary_id, "bob": bob.primary_id}


def erase(
    *,
    scope: ErasureScope = ErasureScope.IDENTIFIER,
    suppress: bool = False,
    request_id: str | None = None,
    **subject: object,
) -> Erasure:
    return person_erase(
        subject=ErasureSubject(scope=scope, **subject),
        reason="the person asked",
        requester=REQUESTER,
        suppress=suppress,
        request_id=request_id,
    )


def clusters() -> set[frozenset[int]]:
    groups: dict[int, set[int]] = {}
    for contact_id, linked_id in Contact.live.values_list("id", "linked_id"):
        groups.setdefault(linked_id or contact_id, set()).add(contact_id)
    return {frozenset(group) for group in groups.values()}


def apart(customers: dict[str, int]) -> set[frozenset[int]]:
    """Each customer alone in an identity of their own."""
    return {frozenset({contact_id}) for contact_id in customers.values()}


def dumped() -> str:
    """Every row of every installed app, as ``dumpdata`` writes them."""
    out = io.StringIO()
    call_command("dumpdata", stdout=out)
    return out.getvalue()


def reconcile_check() -> str:
    out = io.StringIO()
    call_command("reconcile", "--check", "--no-progress", stdout=out)
    return out.getvalue()


def table_sizes() -> dict[str, int]:
    models = [ClusterEvent, Contact, IdentityLink, HeldMerge, Erasure, ErasedIdentifier, LogEntry]
    return {model.__name__: model.objects.count() for model in models}


class TestErasingAnIdentifier:
    def test_an_erased_bridge_leaves_the_two_customers_apart(self, bridged_by_email):
        erasure = erase(email=BRIDGE)

        assert clusters() == apart(bridged_by_email)
        assert erasure.primary_ids == sorted(bridged_by_email.values())
        assert erasure.counts["contacts"] == 1
        assert erasure.counts["link_records"] == 1
        assert_invariants()
        assert "0 differ" in reconcile_check()

    def test_no_table_holds_the_erased_value_afterwards(self, bridged_by_email):
        assert BRIDGE in dumped()

        erase(email=BRIDGE)

        assert BRIDGE not in dumped()

    def test_the_history_keeps_ids_kinds_and_times_without_the_value(self, bridged_by_email):
        erased_id = Contact.objects.get(email=BRIDGE).id
        events_before = ClusterEvent.objects.count()

        erasure = erase(email=BRIDGE)

        secondary_added = ClusterEvent.objects.get(
            contact_id=erased_id, kind=EventKind.SECONDARY_ADDED
        )
        assert secondary_added.details["request"] == {"email": None, "phone_number": "5551001"}
        erased = ClusterEvent.objects.get(contact_id=erased_id, kind=EventKind.ERASED)
        assert erased.details == {"reason": f"erasure #{erasure.id}"}
        split = ClusterEvent.objects.get(kind=EventKind.SPLIT)
        assert split.details["reason"] == f"erasure #{erasure.id}"
        assert ClusterEvent.objects.count() == events_before + 2

    def test_soft_deleted_contacts_carrying_the_value_go_too(self, make_contact):
        make_contact(email="gone@example.com", phone="5552001", deleted=True)
        make_contact(email="other@example.com", phone="5552002")

        erasure = erase(email="gone@example.com")

        assert not Contact.objects.filter(email="gone@example.com").exists()
        assert erasure.counts["contacts"] == 1
        assert Contact.objects.filter(email="other@example.com").exists()

    def test_a_soft_deleted_secondary_of_an_erased_primary_stands_alone_and_can_come_back(
        self, make_contact
    ):
        primary = make_contact(email="first@example.com", phone="5553001")
        secondary = make_contact(email="second@example.com", phone="5553001", linked=primary)
        contacts_soft_delete(contact_ids=[secondary.id])

        erase(email="first@example.com")

        secondary.refresh_from_db()
        assert (secondary.linked_id, secondary.is_primary) == (None, True)
        contacts_restore(contact_ids=[secondary.id])
        assert clusters() == {frozenset({secondary.id})}
        assert_invariants()

    def test_held_merges_link_records_and_an_exact_block_of_the_value_go(self, make_contact):
        make_contact(email="held@example.com", phone="5554001")
        HeldMerge.objects.create(
            email="held@example.com",
            phone_number="5554002",
            kind="merge",
            primary_id=1,
            size=9,
            limit=5,
        )
        IdentityLink.objects.create(email="held@example.com", phone_number="5554003")
        BlockedIdentifier.objects.create(kind="email", value="held@example.com", reason="abuse")

        erasure = erase(email="held@example.com")

        assert erasure.counts == {
            "contacts": 1,
            "link_records": 1,
            "held_merges": 1,
            "blocked_values": 1,
            "history_events": 0,
            "admin_log_entries": 0,
        }
        assert "held@example.com" not in dumped()

    def test_admin_log_entries_lose_the_value_and_keep_the_rest(self, bridged_by_email, admin_user):
        contact = Contact.objects.get(email=BRIDGE)
        LogEntry.objects.create(
            user=admin_user,
            content_type=ContentType.objects.get_for_model(Contact),
            object_id=str(contact.id),
            object_repr=str(contact),
            action_flag=CHANGE,
            change_message=f"Changed email {BRIDGE} → {BRIDGE}",
        )

        erase(email=BRIDGE)

        entry = LogEntry.objects.get()
        assert (entry.object_repr, entry.change_message) == (
            f"#{contact.id} [erased] / 5551001",
            "Changed email [erased] → [erased]",
        )
        assert entry.user == admin_user

    def test_an_unknown_value_is_an_erasure_of_nothing(self, bridged_by_email):
        before = clusters()

        erasure = erase(email="nobody@example.com")

        assert erasure.counts["contacts"] == 0
        assert clusters() == before
        assert ErasedIdentifier.objects.filter(erasure=erasure).count() == 1


class TestErasingAnIdentity:
    def test_every_contact_of_the_identity_goes_and_others_stay(self, bridged_by_email):
        contact_identify(email="carol@example.com", phone_number="5559001")

        erasure = erase(scope=ErasureScope.IDENTITY, email="ann@example.com")

        assert erasure.counts["contacts"] == 3
        assert list(Contact.objects.values_list("email", flat=True)) == ["carol@example.com"]
        assert not IdentityLink.objects.exists()
        dump = dumped()
        for value in ("ann@example.com", "bob@example.com", BRIDGE, "5551001", "5551002"):
            assert value not in dump
        assert "carol@example.com" in dump
        assert_invariants()

    def test_values_an_edit_replaced_go_from_the_history_too(self, db):
        contact_identify(email="pat@example.com", phone_number="5556001")
        second = contact_identify(email="pat@example.com", phone_number="5556002")
        (second_id,) = second.secondary_ids
        contact_edit(contact_id=second_id, email="pat@example.com", phone_number="5556003")
        assert "5556002" in dumped()

        erase(scope=ErasureScope.IDENTITY, email="pat@example.com")

        dump = dumped()
        assert [value for value in ("5556001", "5556002", "5556003") if value in dump] == []

    def test_a_contact_id_names_its_identity(self, bridged_by_email):
        erase(scope=ErasureScope.IDENTITY, contact_id=bridged_by_email["bob"])

        assert not Contact.objects.exists()

    def test_an_unknown_contact_id_is_refused(self, db):
        with pytest.raises(IdentityNotFound):
            erase(contact_id=987654)
        assert not Erasure.objects.exists()


class TestTheRecord:
    def test_it_holds_counts_and_digests_but_no_personal_data(self, bridged_by_email):
        erasure = erase(scope=ErasureScope.IDENTITY, email=BRIDGE)

        record = json.dumps(
            {
                "erasure": list(Erasure.objects.values()),
                "identifiers": list(ErasedIdentifier.objects.values()),
            },
            default=str,
        )
        for value in ("ann@example.com", "bob@example.com", BRIDGE, "5551001", "5551002"):
            assert value not in record
        assert erasure.identifiers.count() == 5
        assert {entry.kind for entry in erasure.identifiers.all()} == {"email", "phone"}

    def test_the_same_request_id_answers_the_same_erasure(self, bridged_by_email):
        first = erase(email=BRIDGE, request_id="dsar-1")
        contact_identify(email=BRIDGE, phone_number="5551001")

        again = erase(email=BRIDGE, request_id="dsar-1")

        assert again.id == first.id
        assert Contact.objects.filter(email=BRIDGE).exists()
        assert Erasure.objects.count() == 1


class TestSuppression:
    def test_a_suppressed_value_is_refused_and_nothing_is_written(self, bridged_by_email):
        erase(email=BRIDGE, suppress=True)
        sizes = table_sizes()

        with pytest.raises(IdentifiersSuppressed) as refused:
            contact_identify(email=BRIDGE, phone_number="5557001")

        assert refused.value.errors == {"email": ["This value is suppressed."]}
        assert table_sizes() == sizes

    def test_the_api_answers_422_suppressed_naming_the_field_not_the_value(
        self, bridged_by_email, api_client
    ):
        erase(email=BRIDGE, suppress=True)

        for path in ("/identify/", "/identities/lookup/"):
            response = api_client.post(path, {"email": BRIDGE.upper()}, format="json")
            assert response.status_code == 422
            assert response.json()["code"] == "suppressed"
            assert BRIDGE not in response.content.decode().lower()

    def test_without_suppression_the_person_can_come_back_as_a_new_identity(self, bridged_by_email):
        erase(email=BRIDGE)

        back = contact_identify(email=BRIDGE, phone_number="5557001")

        assert back.primary_id not in bridged_by_email.values()
        assert back.secondary_ids == []


class TestTheLedger:
    def test_a_restore_brings_nothing_back_after_a_replay_of_the_ledger_file(
        self, bridged_by_email, settings, tmp_path, django_capture_on_commit_callbacks
    ):
        settings.PRIVACY_LEDGER_FILE = str(tmp_path / "ledger.jsonl")
        snapshot = dumped()
        with django_capture_on_commit_callbacks(execute=True):
            erase(email=BRIDGE, suppress=True)
        restore(snapshot, tmp_path=tmp_path)
        assert BRIDGE in dumped()

        out = io.StringIO()
        call_command(
            "erase_person", "--replay-ledger", settings.PRIVACY_LEDGER_FILE, "--write", stdout=out
        )

        assert BRIDGE not in dumped()
        assert clusters() == apart(bridged_by_email)
        assert Erasure.objects.filter(replayed=True).exists()
        with pytest.raises(IdentifiersSuppressed):
            contact_identify(email=BRIDGE, phone_number=None)
        assert "0 differ" in reconcile_check()

    def test_the_ledger_file_and_export_hold_digests_only(
        self, bridged_by_email, settings, tmp_path, django_capture_on_commit_callbacks
    ):
        settings.PRIVACY_LEDGER_FILE = str(tmp_path / "ledger.jsonl")
        with django_capture_on_commit_callbacks(execute=True):
            erasure = erase(scope=ErasureScope.IDENTITY, email=BRIDGE)

        lines = [json.loads(line) for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]
        out = io.StringIO()
        call_command("erase_person", "--export-ledger", stdout=out)
        exported = [json.loads(line) for line in out.getvalue().splitlines()]

        assert len(lines) == 5
        assert {line["erasure"] for line in lines} == {erasure.id}
        assert sorted(lines, key=str) == sorted(exported, key=str)
        assert BRIDGE not in out.getvalue() + (tmp_path / "ledger.jsonl").read_text()

    def test_a_dry_run_replay_writes_nothing(
        self, bridged_by_email, tmp_path, settings, django_capture_on_commit_callbacks
    ):
        settings.PRIVACY_LEDGER_FILE = str(tmp_path / "ledger.jsonl")
        snapshot = dumped()
        with django_capture_on_commit_callbacks(execute=True):
            erase(email=BRIDGE)
        restore(snapshot, tmp_path=tmp_path)
        sizes = table_sizes()

        out = io.StringIO()
        call_command("erase_person", "--replay-ledger", settings.PRIVACY_LEDGER_FILE, stdout=out)

        assert "1 value found" in out.getvalue()
        assert table_sizes() == sizes


def restore(snapshot: str, *, tmp_path: Path) -> None:
    """Put every table back as ``snapshot`` (a ``dumpdata``) holds it: a restored backup."""
    for model in (LogEntry, ErasedIdentifier, Erasure, ClusterEvent, IdentityLink, HeldMerge):
        model.objects.all().delete()
    Contact.objects.update(linked=None, link_precedence="primary")
    Contact.objects.all().delete()
    backup = tmp_path / "backup.json"
    backup.write_text(snapshot)
    call_command("loaddata", str(backup), verbosity=0)


class TestTheCommand:
    def test_a_dry_run_prints_counts_and_ids_and_writes_nothing(self, bridged_by_email):
        sizes = table_sizes()
        out = io.StringIO()

        call_command("erase_person", "--email", BRIDGE.upper(), "--scope", "identifier", stdout=out)

        assert table_sizes() == sizes
        printed = out.getvalue()
        assert "Dry run: would erase 1 contact" in printed
        assert f"would be left as #{bridged_by_email['ann']}, #{bridged_by_email['bob']}" in printed
        assert BRIDGE not in printed.lower()

    def test_write_erases_and_prints_no_value(self, bridged_by_email):
        printed = erase_the_bridge_by_command(reason="DSAR 17")

        assert Erasure.objects.get().reason == "DSAR 17"
        assert "Erasure #" in printed
        assert BRIDGE not in printed
        assert clusters() == apart(bridged_by_email)

    @pytest.mark.parametrize(
        ("arguments", "message"),
        [
            (["--email", "not an email", "--write", "--reason", "r"], "--email: "),
            (["--phone", "12ab", "--write", "--reason", "r"], "--phone: "),
            (["--email", "a@example.com", "--write"], "--reason is required"),
            ([], "Name the person"),
            (["--contact", "999999", "--write", "--reason", "r"], "No contact #999999"),
        ],
    )
    def test_bad_arguments_are_refused_without_writing(self, bridged_by_email, arguments, message):
        sizes = table_sizes()
        with pytest.raises(CommandError, match=message) as refused:
            call_command("erase_person", *arguments, stdout=io.StringIO())
        assert "not an email" not in str(refused.value)
        assert table_sizes() == sizes


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_pg_dump_holds_no_trace_of_an_erased_bridge(bridged_by_email):
    """The issue's check, on the whole database as a backup would take it."""
    assert BRIDGE in pg_dump()

    erase_the_bridge_by_command(reason="DSAR")

    assert len(clusters()) == 2
    assert BRIDGE not in pg_dump()
    assert "0 differ" in reconcile_check()


def erase_the_bridge_by_command(*, reason: str) -> str:
    """``erase_person --email BRIDGE --scope identifier --write``; what it printed."""
    out = io.StringIO()
    call_command(
        "erase_person",
        *("--email", BRIDGE, "--scope", "identifier", "--write", "--reason", reason),
        stdout=out,
    )
    return out.getvalue()


def pg_dump() -> str:
    settings_dict = connection.settings_dict
    return subprocess.run(
        [
            "pg_dump",
            "--host",
            settings_dict["HOST"] or "127.0.0.1",
            "--port",
            str(settings_dict["PORT"] or 5432),
            "--username",
            settings_dict["USER"] or "postgres",
            "--no-password",
            settings_dict["NAME"],
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


class TestScrubbingText:
    """Only the erased value goes: not a longer email or number that contains it."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("Changed phone 111 to 222.", "Changed phone [erased] to 222."),
            ("Changed phone 1112 to 2111", "Changed phone 1112 to 2111"),
            ("#7 a@b.com / 111", "#7 [erased] / [erased]"),
            ("xa@b.com and a@b.community", "xa@b.com and a@b.community"),
            ("write to a@b.com.", "write to [erased]."),
        ],
    )
    def test_a_value_is_replaced_where_it_stands_alone(self, text, expected):
        assert scrub_text(text, texts=frozenset({"111", "a@b.com"})) == expected

    def test_json_values_equal_to_an_erased_value_become_null(self):
        details = {"request": {"email": "a@b.com", "phone_number": "1112"}, "email": ["a@b.com"]}

        assert scrub(details, texts=frozenset({"a@b.com", "111"})) == {
            "request": {"email": None, "phone_number": "1112"},
            "email": [None],
        }
