"""The read endpoints (docs/api.md): ``POST /identities/lookup/`` finds an identity and writes
nothing; ``GET /identities/{id}/`` explains one identity and pages through its history."""

import base64

import pytest
from django.db import connection

from contacts.models import Scope
from contacts.services.corrections import contacts_soft_delete

pytestmark = pytest.mark.django_db

LOOKUP = "/identities/lookup/"


@pytest.fixture
def reader(api_client, api_keys_required):
    """A client with a lookup-scope key, keys required."""
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_keys_required(scopes=[Scope.LOOKUP])}")
    return api_client


@pytest.fixture
def writer(api_keys_required):
    """``/identify/`` called with an identify-scope key; returns the answer's ``contact``."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_keys_required(name='checkout')}")

    def identify(**body: object) -> dict:
        response = client.post("/identify/", body, format="json")
        assert response.status_code == 200, response.content
        return response.json()["contact"]

    return identify


def every_table_count() -> dict[str, int]:
    with connection.cursor() as cursor:
        counts = {}
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)}")
            counts[table] = cursor.fetchone()[0]
    return counts


class TestLookup:
    def test_an_identity_is_answered_as_identify_answers_it(self, reader, writer):
        writer(email="lorraine@hillvalley.edu", phoneNumber="123456")
        expected = writer(email="mcfly@hillvalley.edu", phoneNumber="123456")

        response = reader.post(LOOKUP, {"phoneNumber": "123456"}, format="json")

        assert response.status_code == 200
        assert response.json()["contact"] == expected

    def test_a_lookup_writes_nothing_in_any_table(self, reader, writer):
        writer(email="lorraine@hillvalley.edu", phoneNumber="123456")
        before = every_table_count()

        bodies = [
            {"email": "lorraine@hillvalley.edu", "phoneNumber": "999999"},
            {"email": "nobody@example.com"},
            {"email": "lorraine@hillvalley.edu", "phoneNumber": "123456"},
        ]
        statuses = [reader.post(LOOKUP, body, format="json").status_code for body in bodies]

        assert statuses == [200, 404, 200]
        assert every_table_count() == before

    def test_an_unknown_identifier_beside_a_known_one_is_left_out(self, reader, writer):
        writer(email="lorraine@hillvalley.edu", phoneNumber="123456")

        response = reader.post(
            LOOKUP, {"email": "lorraine@hillvalley.edu", "phoneNumber": "999999"}, format="json"
        )

        assert response.json()["contact"]["phoneNumbers"] == ["123456"]

    def test_nothing_known_is_404(self, reader):
        response = reader.post(LOOKUP, {"email": "nobody@example.com"}, format="json")

        assert response.status_code == 404
        assert response.json()["code"] == "identity_not_found"

    def test_identifiers_of_two_identities_are_409_naming_both(self, reader, writer):
        george = writer(email="george@hillvalley.edu", phoneNumber="919191")
        biff = writer(email="biffsucks@hillvalley.edu", phoneNumber="717171")

        response = reader.post(
            LOOKUP, {"email": "george@hillvalley.edu", "phoneNumber": "717171"}, format="json"
        )

        assert response.status_code == 409
        body = response.json()
        assert body["code"] == "identities_conflict"
        assert f"#{george['primaryContactId']}" in body["detail"]
        assert f"#{biff['primaryContactId']}" in body["detail"]

    def test_identifiers_only_on_soft_deleted_contacts_are_unknown(self, reader, writer):
        lorraine = writer(email="lorraine@hillvalley.edu", phoneNumber="123456")
        contacts_soft_delete(contact_ids=[lorraine["primaryContactId"]])

        response = reader.post(LOOKUP, {"email": "lorraine@hillvalley.edu"}, format="json")

        assert response.status_code == 404

    def test_input_is_normalized_and_validated_as_identify_does(self, reader, writer):
        writer(email="lorraine@hillvalley.edu", phoneNumber="123456")

        found = reader.post(LOOKUP, {"email": "  Lorraine@HillValley.edu "}, format="json")
        invalid = reader.post(LOOKUP, {"email": "lorraine@"}, format="json")
        empty = reader.post(LOOKUP, {}, format="json")

        assert found.status_code == 200
        assert (invalid.status_code, invalid.json()["code"]) == (400, "invalid")
        assert empty.status_code == 400

    def test_a_call_without_a_key_is_401(self, api_client, api_keys_required):
        response = api_client.post(LOOKUP, {"phoneNumber": "123456"}, format="json")

        assert response.status_code == 401


class TestIdentityDetail:
    def test_every_member_is_listed_with_why_it_belongs(self, reader, writer):
        first = writer(email="lorraine@hillvalley.edu", phoneNumber="123456")
        second = writer(email="mcfly@hillvalley.edu", phoneNumber="123456")
        primary_id = first["primaryContactId"]
        [secondary_id] = second["secondaryContactIds"]

        body = reader.get(f"/identities/{secondary_id}/").json()

        assert body["contact"] == second
        reasons = {member["id"]: member["reason"] for member in body["contacts"]}
        assert reasons[primary_id]["via"] == "primary"
        assert reasons[secondary_id] == {
            "via": "shared_identifier",
            "contactId": primary_id,
            "identifier": {"kind": "phone", "value": "123456"},
            "linkRecord": None,
        }

    def test_a_primary_merged_away_answers_the_identity_it_joined(self, reader, writer):
        george = writer(email="george@hillvalley.edu", phoneNumber="919191")
        biff = writer(email="biffsucks@hillvalley.edu", phoneNumber="717171")
        merged = writer(email="george@hillvalley.edu", phoneNumber="717171")

        body = reader.get(f"/identities/{biff['primaryContactId']}/").json()

        assert body["contact"] == merged
        assert body["contact"]["primaryContactId"] == george["primaryContactId"]
        kinds = [event["kind"] for event in body["history"]["results"]]
        assert kinds[0] == "merged"

    def test_after_a_split_each_part_answers_its_own_identity(self, reader, bridged_customers):
        lorraine, bridge, george = bridged_customers
        before = reader.get(f"/identities/{george.id}/").json()
        contacts_soft_delete(contact_ids=[bridge.id])

        after = reader.get(f"/identities/{george.id}/").json()

        assert before["contact"]["primaryContactId"] == lorraine.id
        assert after["contact"]["primaryContactId"] == george.id
        assert after["contact"]["emails"] == ["george@example.com"]
        assert [member["id"] for member in after["contacts"]] == [george.id]

    @pytest.mark.parametrize(
        ("path", "code"),
        [
            ("/identities/987654/", "contact_not_found"),
            (f"/identities/{2**64}/", "contact_not_found"),
        ],
    )
    def test_unknown_contacts_are_404(self, reader, path, code):
        response = reader.get(path)

        assert response.status_code == 404
        assert response.json()["code"] == code

    def test_a_soft_deleted_contact_is_404_saying_so(self, reader, writer):
        contact = writer(email="lorraine@hillvalley.edu")
        contacts_soft_delete(contact_ids=[contact["primaryContactId"]])

        response = reader.get(f"/identities/{contact['primaryContactId']}/")

        assert response.status_code == 404
        assert response.json()["code"] == "contact_deleted"

    def test_the_history_pages_by_cursor_newest_first_without_gaps(self, reader, writer):
        for number in range(60):
            writer(email=f"customer{number}@example.com", phoneNumber="123456")
        primary_id = writer(phoneNumber="123456")["primaryContactId"]

        pages, url = [], f"/identities/{primary_id}/"
        while url:
            history = reader.get(url).json()["history"]
            pages.append(history["results"])
            url = history["next"]

        ids = [event["id"] for page in pages for event in page]
        assert [len(page) for page in pages] == [50, 10]
        assert ids == sorted(ids, reverse=True)
        assert len(set(ids)) == 60
        assert reader.get(f"/identities/{primary_id}/?cursor=nonsense").status_code == 404

    @pytest.mark.parametrize(
        "decoded", ["p=abc", "p=%00", "r=1&p=x", "p=99999999999999999999999", "o=-1"]
    )
    def test_a_forged_cursor_is_404_not_a_crash(self, reader, make_contact, decoded):
        contact = make_contact(email="a@example.com")
        cursor = base64.b64encode(decoded.encode()).decode()

        response = reader.get(f"/identities/{contact.id}/", {"cursor": cursor})

        assert response.status_code == 404
        assert response.json()["detail"] == "Invalid cursor"

    def test_a_call_without_a_key_is_401(self, api_client, api_keys_required, make_contact):
        contact = make_contact(email="a@example.com")

        assert api_client.get(f"/identities/{contact.id}/").status_code == 401
