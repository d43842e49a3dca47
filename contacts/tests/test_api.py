"""POST /identify/: the rules, worked examples and response format of SPEC §4."""

import pytest

from contacts.models import Contact, IdentityLink, LinkPrecedence
from contacts.tests.graph_model import assert_invariants

pytestmark = [pytest.mark.django_db, pytest.mark.pooler]


@pytest.fixture(autouse=True)
def _as_a_shops_backend(api_keys_required, api_client, client) -> None:
    """Keys required, as in production, and every call sends a key with the identify scope."""
    authorization = f"Api-Key {api_keys_required()}"
    api_client.credentials(HTTP_AUTHORIZATION=authorization)
    client.defaults["HTTP_AUTHORIZATION"] = authorization


def contact(contact_id: int) -> Contact:
    return Contact.objects.get(id=contact_id)


class TestWorkedExamples:
    def test_new_email_for_known_phone_creates_a_secondary(self, identify):
        first = identify(email="lorraine@hillvalley.edu", phone="123456")
        second = identify(email="mcfly@hillvalley.edu", phone="123456")

        primary_id = first["primaryContatctId"]
        [secondary_id] = second["secondaryContactIds"]
        assert second == {
            "primaryContatctId": primary_id,
            "primaryContactId": primary_id,
            "emails": ["lorraine@hillvalley.edu", "mcfly@hillvalley.edu"],
            "phoneNumbers": ["123456"],
            "secondaryContactIds": [secondary_id],
        }
        assert contact(secondary_id).linked_id == primary_id
        assert contact(secondary_id).link_precedence == LinkPrecedence.SECONDARY

    @pytest.mark.parametrize(
        "request_keys",
        [
            {"email": None, "phone": "123456"},
            {"email": "lorraine@hillvalley.edu", "phone": None},
            {"email": "mcfly@hillvalley.edu", "phone": None},
        ],
    )
    def test_known_identifiers_answer_the_cluster_and_write_nothing(self, identify, request_keys):
        identify(email="lorraine@hillvalley.edu", phone="123456")
        expected = identify(email="mcfly@hillvalley.edu", phone="123456")
        rows_before = Contact.objects.count()

        assert identify(**request_keys) == expected
        assert Contact.objects.count() == rows_before

    def test_bridging_request_merges_the_newer_cluster_into_the_older(self, identify):
        george = identify(email="george@hillvalley.edu", phone="919191")
        biff = identify(email="biffsucks@hillvalley.edu", phone="717171")

        merged = identify(email="george@hillvalley.edu", phone="717171")

        assert merged == {
            "primaryContatctId": george["primaryContactId"],
            "primaryContactId": george["primaryContactId"],
            "emails": ["george@hillvalley.edu", "biffsucks@hillvalley.edu"],
            "phoneNumbers": ["919191", "717171"],
            "secondaryContactIds": [biff["primaryContactId"]],
        }
        demoted = contact(biff["primaryContactId"])
        assert demoted.link_precedence == LinkPrecedence.SECONDARY
        assert demoted.linked_id == george["primaryContactId"]
        assert Contact.objects.count() == 2
        assert list(IdentityLink.objects.values_list("email", "phone_number", "source")) == [
            ("george@hillvalley.edu", "717171", "api")
        ]
        assert_invariants()


class TestRules:
    def test_unknown_identifiers_create_a_primary(self, identify):
        answer = identify(email="doc@hillvalley.edu", phone="+1 (555) 0100")

        created = contact(answer["primaryContactId"])
        assert created.link_precedence == LinkPrecedence.PRIMARY
        assert created.linked_id is None
        assert (created.email, created.phone_number) == ("doc@hillvalley.edu", "+15550100")
        assert answer["secondaryContactIds"] == []

    @pytest.mark.parametrize(
        ("request_keys", "stored"),
        [
            ({"email": "only@example.com"}, ("only@example.com", None)),
            ({"phone": "5550101"}, (None, "5550101")),
        ],
    )
    def test_a_single_unknown_identifier_creates_a_primary(self, identify, request_keys, stored):
        answer = identify(**request_keys)

        created = contact(answer["primaryContactId"])
        assert (created.email, created.phone_number) == stored
        assert created.link_precedence == LinkPrecedence.PRIMARY

    def test_new_phone_for_known_email_creates_a_secondary(self, identify):
        first = identify(email="marty@hillvalley.edu", phone="111")
        answer = identify(email="marty@hillvalley.edu", phone="222")

        assert answer["primaryContactId"] == first["primaryContactId"]
        assert answer["phoneNumbers"] == ["111", "222"]
        assert len(answer["secondaryContactIds"]) == 1

    def test_both_identifiers_in_one_cluster_on_different_contacts_write_nothing(self, identify):
        identify(email="a@example.com", phone="111")
        identify(email="b@example.com", phone="111")
        rows_before = Contact.objects.count()

        answer = identify(email="b@example.com", phone="111")
        answer_crossed = identify(email="a@example.com", phone="111")

        assert answer == answer_crossed
        assert Contact.objects.count() == rows_before
        assert IdentityLink.objects.count() == 0

    def test_the_same_request_twice_gives_the_same_answer_and_no_new_row(self, identify):
        first = identify(email="twice@example.com", phone="333")
        rows_after_first = Contact.objects.count()

        assert identify(email="twice@example.com", phone="333") == first
        assert Contact.objects.count() == rows_after_first

    def test_lookup_through_a_secondary_finds_the_whole_cluster(self, identify):
        identify(email="a@example.com", phone="111")
        identify(email="b@example.com", phone="111")
        full = identify(email="b@example.com", phone="222")

        assert identify(phone="222") == full
        assert identify(email="b@example.com") == full
        assert full["emails"] == ["a@example.com", "b@example.com"]
        assert full["phoneNumbers"] == ["111", "222"]

    def test_three_clusters_merge_into_the_oldest(self, identify):
        oldest = identify(email="a@example.com", phone="111")
        middle = identify(email="b@example.com", phone="222")
        newest = identify(email="c@example.com", phone="333")

        identify(email="c@example.com", phone="222")
        answer = identify(email="a@example.com", phone="333")

        assert answer["primaryContactId"] == oldest["primaryContactId"]
        assert answer["secondaryContactIds"] == sorted(
            [middle["primaryContactId"], newest["primaryContactId"]]
        )
        assert answer["emails"] == ["a@example.com", "b@example.com", "c@example.com"]
        assert answer["phoneNumbers"] == ["111", "222", "333"]
        assert not Contact.objects.filter(linked_id=middle["primaryContactId"]).exists()
        assert_invariants()

    def test_merging_relinks_the_secondaries_of_the_demoted_primary(self, identify):
        older = identify(email="a@example.com", phone="111")
        newer = identify(email="b@example.com", phone="222")
        newer_secondary = identify(email="b2@example.com", phone="222")["secondaryContactIds"][0]

        identify(email="a@example.com", phone="222")

        assert contact(newer_secondary).linked_id == older["primaryContactId"]
        assert contact(newer["primaryContactId"]).linked_id == older["primaryContactId"]
        assert_invariants()

    def test_new_information_after_a_merge_links_to_the_surviving_primary(self, identify):
        older = identify(email="a@example.com", phone="111")
        identify(email="b@example.com", phone="222")
        identify(email="a@example.com", phone="222")

        answer = identify(email="b@example.com", phone="999")

        [new_id] = set(answer["secondaryContactIds"]) - {
            row.id for row in Contact.objects.exclude(phone_number="999")
        }
        assert contact(new_id).linked_id == older["primaryContactId"]
        assert answer["primaryContactId"] == older["primaryContactId"]
        assert_invariants()

    def test_primary_is_decided_by_age_not_by_which_side_of_the_request_it_is_on(
        self, identify, make_contact
    ):
        older = make_contact(email="old@example.com", phone="111")
        newer = make_contact(email="new@example.com", phone="222")

        answer = identify(email="new@example.com", phone="111")

        assert answer["primaryContactId"] == older.id
        assert answer["secondaryContactIds"] == [newer.id]


class TestEquivalentInputs:
    def test_an_integer_phone_is_the_same_as_its_digits(self, identify):
        as_string = identify(email="n@example.com", phone="123456")

        assert identify(phone=123456) == as_string
        assert Contact.objects.count() == 1

    @pytest.mark.parametrize("missing", [{"email": None}, {"email": ""}, {"email": "   "}, {}])
    def test_null_absent_and_empty_email_are_the_same(self, identify, missing):
        answer = identify(phone="444", **missing)

        assert answer["emails"] == []
        assert contact(answer["primaryContactId"]).email is None

    @pytest.mark.parametrize("missing", [{"phone": None}, {"phone": ""}, {"phone": " - "}, {}])
    def test_null_absent_and_empty_phone_are_the_same(self, identify, missing):
        answer = identify(email="p@example.com", **missing)

        assert answer["phoneNumbers"] == []
        assert contact(answer["primaryContactId"]).phone_number is None

    def test_email_is_trimmed_and_lower_cased(self, identify):
        first = identify(email="  Marty@HillValley.EDU ", phone="555")

        assert first["emails"] == ["marty@hillvalley.edu"]
        assert identify(email="marty@hillvalley.edu") == first

    @pytest.mark.parametrize("spelling", ["+1 (555) 123-4567", "+1.555.123.4567", "+15551234567"])
    def test_phone_separators_are_ignored_and_the_leading_plus_kept(self, identify, spelling):
        answer = identify(phone=spelling)

        assert answer["phoneNumbers"] == ["+15551234567"]

    def test_unknown_keys_are_ignored(self, api_client):
        response = api_client.post(
            "/identify/", {"email": "k@example.com", "extra": [1, 2]}, format="json"
        )

        assert response.status_code == 200
        assert response.json()["contact"]["emails"] == ["k@example.com"]


class TestSoftDeletedContacts:
    def test_deleted_contacts_are_invisible(self, identify, make_contact):
        make_contact(email="gone@example.com", phone="777", deleted=True)

        answer = identify(email="gone@example.com")

        assert Contact.live.count() == 1
        assert answer["secondaryContactIds"] == []
        assert answer["phoneNumbers"] == []

    def test_deleted_secondaries_are_left_out_of_the_answer(self, identify, make_contact):
        primary = make_contact(email="p@example.com", phone="111")
        make_contact(email="deleted@example.com", phone="111", linked=primary, deleted=True)

        answer = identify(phone="111")

        assert answer["emails"] == ["p@example.com"]
        assert answer["secondaryContactIds"] == []


class TestResponseOrder:
    def test_primary_values_come_first_then_by_creation(self, identify, make_contact):
        primary = make_contact(email="z@example.com", phone="999")
        make_contact(email="b@example.com", phone="111", linked=primary)
        make_contact(email="a@example.com", phone="999", linked=primary)
        make_contact(email="b@example.com", phone="000", linked=primary)

        answer = identify(phone="999")

        assert answer["emails"] == ["z@example.com", "b@example.com", "a@example.com"]
        assert answer["phoneNumbers"] == ["999", "111", "000"]

    def test_primary_without_email_lists_emails_by_creation(self, identify, make_contact):
        primary = make_contact(phone="999")
        make_contact(email="b@example.com", phone="999", linked=primary)
        make_contact(email="a@example.com", phone="999", linked=primary)

        assert identify(phone="999")["emails"] == ["b@example.com", "a@example.com"]

    def test_secondary_ids_ascend_and_phones_are_strings(self, identify, make_contact):
        primary = make_contact(email="p@example.com", phone="100")
        late = make_contact(email="x@example.com", phone="100", linked=primary)
        early_id_late_date = make_contact(
            email="y@example.com", phone="100", linked=primary, created_at=late.created_at
        )

        answer = identify(phone=100)

        assert answer["secondaryContactIds"] == sorted([late.id, early_id_late_date.id])
        assert all(isinstance(phone, str) for phone in answer["phoneNumbers"])


class TestEndpoint:
    @pytest.mark.parametrize("path", ["/identify/", "/identify"])
    def test_both_paths_answer_without_redirect(self, api_client, path):
        response = api_client.post(path, {"email": "slash@example.com"}, format="json")

        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"

    def test_a_body_without_content_type_is_read_as_json(self, client):
        response = client.generic(
            "POST", "/identify/", b'{"phoneNumber": "12345"}', content_type=""
        )

        assert response.status_code == 200
        assert response.json()["contact"]["phoneNumbers"] == ["12345"]

    @pytest.mark.parametrize(
        ("method", "path", "status"),
        [
            ("get", "/identify/", 405),
            ("put", "/identify/", 405),
            ("get", "/no-such-page/", 404),
            ("post", "/no-such-page", 404),
        ],
    )
    def test_errors_outside_validation_are_json(self, client, method, path, status):
        response = getattr(client, method)(path)

        assert response.status_code == status
        assert response["Content-Type"] == "application/json"
        assert response.json()["code"] in {"method_not_allowed", "not_found"}

    def test_unsupported_media_type_is_json_415(self, client):
        response = client.post("/identify/", "email=a@example.com", content_type="text/plain")

        assert response.status_code == 415
        assert response.json()["code"] == "unsupported_media_type"
        assert Contact.objects.count() == 0
