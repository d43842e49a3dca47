"""The export of a person (docs/api.md, "Privacy"): ``person_export``, ``POST /privacy/exports/``
and ``manage.py export_person`` answer one document, about the contacts an erasure would take."""

import io
import json
import os
import stat

import pytest
from django.core.management import CommandError, call_command

from contacts.models import (
    ClusterEvent,
    Contact,
    EventKind,
    HeldMerge,
    HeldMergeKind,
    Scope,
    Source,
)
from contacts.selectors.exports import person_export

pytestmark = pytest.mark.django_db

EXPORTS = "/privacy/exports/"
LORRAINE = "lorraine@hillvalley.edu"
EMPTY = {"contacts": [], "linkRecords": [], "history": [], "heldMerges": []}


@pytest.fixture
def person(identify, make_contact) -> dict[str, object]:
    """Lorraine's identity (her contact, a secondary sharing her phone, George's contact joined
    by a request that bridged them, a soft-deleted contact with her email), a held merge and an
    edit of another contact that mention her email, and a stranger whose phone number holds
    hers."""
    lorraine = identify(email=LORRAINE, phone="123456")["primaryContactId"]
    identify(email="mcfly@hillvalley.edu", phone="123456")
    george = identify(email="george@hillvalley.edu", phone="919191")["primaryContactId"]
    identify(email=LORRAINE, phone="919191")
    deleted = make_contact(email=LORRAINE, phone="555000", deleted=True)
    stranger = identify(email="biff@hillvalley.edu", phone="1234567")["primaryContactId"]
    edit = ClusterEvent.objects.create(
        kind=EventKind.EDITED,
        source=Source.ADMIN,
        contact_id=stranger,
        primary_id=stranger,
        details={"email": [LORRAINE, "biff@hillvalley.edu"], "reason": f"typo by {LORRAINE}."},
    )
    held = HeldMerge.objects.create(
        email=LORRAINE,
        phone_number="777777",
        kind=HeldMergeKind.MERGE,
        primary_id=lorraine,
        size=101,
        limit=100,
    )
    HeldMerge.objects.create(
        email="biff@hillvalley.edu",
        phone_number="1234567",
        kind=HeldMergeKind.GROWTH,
        primary_id=stranger,
        size=101,
        limit=100,
    )
    ids = sorted([*Contact.objects.exclude(id=stranger).values_list("id", flat=True)])
    return {
        "ids": ids,
        "lorraine": lorraine,
        "george": george,
        "deleted": deleted.id,
        "stranger": stranger,
        "edit": edit.id,
        "held": held.id,
    }


def without_time(document: dict) -> dict:
    return {key: value for key, value in document.items() if key != "exportedAt"}


class TestDocument:
    def test_it_holds_the_identity_s_contacts_by_id_deleted_ones_too(self, person):
        document = person_export(email=LORRAINE)

        contacts = document["contacts"]
        assert [contact["id"] for contact in contacts] == person["ids"]
        assert len(contacts) == 4
        assert set(contacts[0]) == {
            "id",
            "email",
            "phoneNumber",
            "linkedId",
            "linkPrecedence",
            "createdAt",
            "updatedAt",
            "deletedAt",
        }
        by_id = {contact["id"]: contact for contact in contacts}
        assert by_id[person["lorraine"]]["linkPrecedence"] == "primary"
        assert by_id[person["lorraine"]]["linkedId"] is None
        assert by_id[person["george"]]["linkedId"] == person["lorraine"]
        assert by_id[person["george"]]["email"] == "george@hillvalley.edu"
        assert by_id[person["deleted"]]["deletedAt"].endswith("Z")
        assert {contact["phoneNumber"] for contact in contacts} == {"123456", "919191", "555000"}
        assert document["exportedAt"].endswith("Z")

    def test_it_holds_the_link_records_and_held_merges_carrying_its_values(self, person):
        document = person_export(email=LORRAINE)

        [link] = document["linkRecords"]
        assert link == {
            "id": link["id"],
            "email": LORRAINE,
            "phoneNumber": "919191",
            "source": "api",
            "createdAt": link["createdAt"],
        }
        [held] = document["heldMerges"]
        assert held == {
            "id": person["held"],
            "email": LORRAINE,
            "phoneNumber": "777777",
            "kind": "merge",
            "status": "pending",
            "firstSeenAt": held["firstSeenAt"],
            "lastSeenAt": held["lastSeenAt"],
            "occurrences": 1,
        }

    def test_its_history_is_about_its_contacts_or_mentions_its_values(self, person):
        history = person_export(email=LORRAINE)["history"]

        ids = [event["id"] for event in history]
        assert ids == sorted(ids)
        about = {event["contactId"] for event in history} | {
            event["primaryId"] for event in history
        }
        assert set(person["ids"]) - {person["deleted"]} <= about
        assert {"primary_created", "secondary_added", "merged"} <= {e["kind"] for e in history}
        [edit] = [event for event in history if event["contactId"] == person["stranger"]]
        assert edit["id"] == person["edit"]
        assert edit["details"]["email"] == [LORRAINE, "biff@hillvalley.edu"]
        assert set(edit) == {
            "id",
            "kind",
            "source",
            "contactId",
            "primaryId",
            "details",
            "createdAt",
        }

    def test_a_stranger_whose_values_hold_the_person_s_is_left_out(self, person):
        document = json.dumps(person_export(email=LORRAINE))

        assert "1234567" not in document
        assert "biff@hillvalley.edu" in document  # only in the edit that mentions Lorraine
        stranger_created = ClusterEvent.objects.get(
            contact_id=person["stranger"], kind=EventKind.PRIMARY_CREATED
        )
        assert f'"id": {stranger_created.id},' not in document

    def test_every_identifier_of_the_identity_names_the_same_person(self, person):
        expected = without_time(person_export(email=LORRAINE))

        for subject in (
            {"phone_number": "123456"},
            {"email": "george@hillvalley.edu"},
            {"contact_id": person["george"]},
        ):
            assert without_time(person_export(**subject)) == expected

    def test_an_unknown_value_gives_empty_lists(self, person):
        assert without_time(person_export(email="nobody@hillvalley.edu")) == EMPTY
        assert without_time(person_export(phone_number="999")) == EMPTY


class TestApi:
    def test_it_answers_the_document_for_a_value_typed_any_way(self, api_client, person):
        response = api_client.post(EXPORTS, {"email": " Lorraine@HillValley.EDU "}, format="json")

        assert response.status_code == 200
        assert without_time(response.json()) == without_time(person_export(email=LORRAINE))

    def test_an_unknown_value_is_200_with_empty_lists(self, api_client, person):
        response = api_client.post(EXPORTS, {"phoneNumber": 999}, format="json")

        assert response.status_code == 200
        assert without_time(response.json()) == EMPTY

    def test_an_unknown_contact_is_404(self, api_client, person):
        response = api_client.post(EXPORTS, {"contactId": 99999}, format="json")

        assert response.status_code == 404
        assert response.json() == {"detail": "No contact #99999.", "code": "contact_not_found"}

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({}, "non_field_errors"),
            ({"email": LORRAINE, "phoneNumber": "123456"}, "non_field_errors"),
            ({"email": "lorraine@hillvalley"}, "email"),
            ({"phoneNumber": "12"}, "phoneNumber"),
            ({"contactId": "lorraine"}, "contactId"),
        ],
    )
    def test_bad_input_is_400_naming_the_field_not_the_value(self, api_client, person, body, field):
        response = api_client.post(EXPORTS, body, format="json")

        assert response.status_code == 400
        assert field in response.json()["errors"]
        assert "lorraine@hillvalley" not in response.content.decode()

    def test_the_export_finds_the_contacts_the_identity_erasure_takes(self, api_client, person):
        exported = api_client.post(EXPORTS, {"email": LORRAINE}, format="json").json()

        erased = api_client.post(
            "/privacy/erasures/",
            {"email": LORRAINE, "scope": "identity", "reason": "ticket 7"},
            format="json",
        ).json()

        assert erased["contactIds"] == [contact["id"] for contact in exported["contacts"]]
        assert erased["counts"]["linkRecords"] == len(exported["linkRecords"])
        assert erased["counts"]["heldMerges"] == len(exported["heldMerges"])
        assert without_time(person_export(email=LORRAINE)) == EMPTY

    def test_it_needs_the_privacy_scope(self, api_client, api_keys_required):
        identify_key = api_keys_required(scopes=[Scope.IDENTIFY, Scope.LOOKUP])
        privacy_key = api_keys_required(scopes=[Scope.PRIVACY])

        refused = api_client.post(
            EXPORTS,
            {"email": LORRAINE},
            format="json",
            headers={"Authorization": f"Api-Key {identify_key}"},
        )
        answered = api_client.post(
            EXPORTS,
            {"email": LORRAINE},
            format="json",
            headers={"Authorization": f"Api-Key {privacy_key}"},
        )

        assert refused.status_code == 403
        assert refused.json()["code"] == "scope_missing"
        assert answered.status_code == 200

    def test_the_documented_examples_are_what_the_api_answers(self, api_client, person):
        schema = api_client.get("/api/schema/", {"format": "json"}).json()
        responses = schema["paths"][EXPORTS]["post"]["responses"]
        examples = {
            status: [e["value"] for e in r["content"]["application/json"]["examples"].values()]
            for status, r in responses.items()
            if status in {"200", "400", "404"}
        }

        [document] = examples["200"]
        answered = api_client.post(EXPORTS, {"email": LORRAINE}, format="json").json()
        assert set(document) == set(answered)
        for key in ("contacts", "history"):
            assert set(document[key][0]) == set(answered[key][0])
        invalid = api_client.post(EXPORTS, {"phoneNumber": "12"}, format="json").json()
        assert examples["400"] == [invalid]
        unknown = api_client.post(EXPORTS, {"contactId": 99}, format="json").json()
        assert examples["404"] == [unknown]


def export_person(*args: str) -> str:
    stdout = io.StringIO()
    call_command("export_person", *args, stdout=stdout, stderr=io.StringIO())
    return stdout.getvalue()


class TestCommand:
    @pytest.mark.parametrize(
        "arguments", [["--email", " LORRAINE@hillvalley.edu"], ["--phone", "12-34-56"]]
    )
    def test_it_prints_the_document_as_indented_json(self, person, arguments):
        output = export_person(*arguments)

        assert output.startswith('{\n  "exportedAt": ')
        assert without_time(json.loads(output)) == without_time(person_export(email=LORRAINE))

    def test_a_contact_id_names_the_person(self, person):
        output = export_person("--contact", str(person["lorraine"]))

        assert without_time(json.loads(output)) == without_time(person_export(email=LORRAINE))

    def test_output_writes_a_file_only_its_owner_reads(self, person, tmp_path):
        path = tmp_path / "lorraine.json"

        printed = export_person("--email", LORRAINE, "--output", str(path))

        assert printed == ""
        document = json.loads(path.read_text(encoding="utf-8"))
        assert without_time(document) == without_time(person_export(email=LORRAINE))
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600

    @pytest.mark.parametrize(
        ("arguments", "message"),
        [
            (["--email", "lorraine@hillvalley"], "--email: Enter a valid email address."),
            (["--phone", "12"], "--phone: Must be 3 to 20 digits"),
            (["--email", "  "], "--email: give a value."),
            (["--contact", "99999"], "No contact #99999."),
        ],
    )
    def test_bad_arguments_name_the_option_not_the_value(self, person, arguments, message):
        with pytest.raises(CommandError) as refused:
            export_person(*arguments)

        assert str(refused.value).startswith(message)
        assert "lorraine@hillvalley" not in str(refused.value)

    def test_an_unwritable_file_is_a_command_error(self, person, tmp_path):
        with pytest.raises(CommandError, match="Cannot write"):
            export_person("--email", LORRAINE, "--output", str(tmp_path / "missing" / "x.json"))
