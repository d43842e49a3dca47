"""``POST /privacy/erasures/`` and ``GET /privacy/erasures/{id}/`` (docs/api.md, "Privacy"): who
may call them, what they refuse, what an erasure answers and leaves, idempotency, suppression, and
that no email or phone number comes back or reaches a log."""

import io
import json

import pytest
from django.core.management import call_command
from django.forms.models import model_to_dict
from rest_framework.test import APIClient

from contacts.admin.api_key import ApiKeyForm
from contacts.models import Contact, ErasedIdentifier, Erasure, IdentityLink, Scope

pytestmark = pytest.mark.django_db

ERASURES = "/privacy/erasures/"
BRIDGE = "x.bridge@example.com"
VALUES = ["ann@example.com", "bob@example.com", BRIDGE, "5551001", "5551002"]


@pytest.fixture
def bridged(identify) -> dict[str, int]:
    """Ann and Bob, two customers joined through the API by one email typed with each one's
    phone: a secondary (the email with Ann's phone) and a link record (the email with Bob's)."""
    ann = identify(email="ann@example.com", phone="5551001")["primaryContactId"]
    bob = identify(email="bob@example.com", phone="5551002")["primaryContactId"]
    identify(email=BRIDGE, phone="5551001")
    merged = identify(email=BRIDGE, phone="5551002")
    assert merged["primaryContactId"] == ann
    assert IdentityLink.objects.filter(email=BRIDGE).exists()
    return {"ann": ann, "bob": bob}


def erase(client: APIClient, body: object, **headers: str):
    return client.post(ERASURES, body, format="json", headers=headers)


def primary_of(client: APIClient, **identifiers: str) -> int:
    response = client.post("/identities/lookup/", identifiers, format="json")
    assert response.status_code == 200, response.content
    return response.json()["contact"]["primaryContactId"]


def assert_no_value(text: str) -> None:
    for value in VALUES:
        assert value not in text


class TestAccess:
    @pytest.mark.parametrize(
        ("method", "path"),
        [("post", ERASURES), ("get", f"{ERASURES}1/"), ("post", "/privacy/exports/")],
    )
    def test_without_a_key_the_answer_is_401(self, api_client, api_keys_required, method, path):
        response = api_client.generic(
            method.upper(), path, b'{"email": "ann@example.com"}', content_type="application/json"
        )

        assert response.status_code == 401
        assert response.json()["code"] == "api_key_required"

    @pytest.mark.parametrize("scope", [Scope.IDENTIFY, Scope.LOOKUP])
    def test_a_key_without_the_privacy_scope_is_refused(self, api_client, api_keys_required, scope):
        api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_keys_required(scopes=[scope])}")

        response = erase(api_client, {"email": "ann@example.com", "reason": "ticket 1"})

        assert response.status_code == 403
        assert response.json() == {
            "detail": "This API key does not have the `privacy` scope.",
            "code": "scope_missing",
        }
        assert not Erasure.objects.exists()

    def test_a_privacy_key_erases_and_is_named_by_its_prefix(self, api_client, api_keys_required):
        key = api_keys_required(scopes=[Scope.PRIVACY])
        api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")

        response = erase(api_client, {"email": "ann@example.com", "reason": "ticket 1"})

        assert response.status_code == 201
        assert response.json()["requestedBy"] == f"api-key:{key[:8]}"
        assert response.json()["source"] == "api"

    @pytest.mark.parametrize(
        ("method", "path"),
        [("post", "/identify/"), ("post", "/identities/lookup/"), ("get", "/identities/1/")],
    )
    def test_a_privacy_key_cannot_identify_or_look_up(
        self, api_client, api_keys_required, method, path
    ):
        key = api_keys_required(scopes=[Scope.PRIVACY])
        api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")

        response = api_client.generic(
            method.upper(), path, b'{"email": "ann@example.com"}', content_type="application/json"
        )

        assert response.status_code == 403
        assert response.json()["code"] == "scope_missing"
        assert not Contact.objects.exists()

    def test_create_api_key_makes_a_privacy_key(self, api_client, api_keys_required):
        stdout = io.StringIO()
        call_command(
            "create_api_key",
            "privacy desk",
            "--scope",
            "privacy",
            stdout=stdout,
            stderr=io.StringIO(),
        )
        api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {stdout.getvalue().strip()}")

        response = erase(api_client, {"email": "ann@example.com", "reason": "ticket 1"})

        assert response.status_code == 201

    def test_the_admin_offers_the_privacy_scope(self):
        assert Scope.PRIVACY in dict(ApiKeyForm().fields["scopes"].choices)

    def test_without_keys_required_the_requester_is_anonymous(self, api_client):
        response = erase(api_client, {"email": "ann@example.com", "reason": "ticket 1"})

        assert response.status_code == 201
        assert response.json()["requestedBy"] == "anonymous"


class TestInvalidInput:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"reason": "ticket 1"}, "non_field_errors"),
            ({"email": None, "phoneNumber": "", "reason": "ticket 1"}, "non_field_errors"),
            (
                {"email": "ann@example.com", "phoneNumber": "5551001", "reason": "x"},
                "non_field_errors",
            ),
            ({"email": "ann@example.com", "contactId": 1, "reason": "x"}, "non_field_errors"),
            ({"email": "ann@example", "reason": "ticket 1"}, "email"),
            ({"email": "ann\u200b@example.com", "reason": "ticket 1"}, "email"),
            ({"phoneNumber": "5-5", "reason": "ticket 1"}, "phoneNumber"),
            ({"phoneNumber": "5551001x", "reason": "ticket 1"}, "phoneNumber"),
            ({"contactId": "ann@example.com", "reason": "ticket 1"}, "contactId"),
            ({"contactId": 0, "reason": "ticket 1"}, "contactId"),
            ({"contactId": 2**63, "reason": "ticket 1"}, "contactId"),
            ({"email": "ann@example.com"}, "reason"),
            ({"email": "ann@example.com", "reason": "   "}, "reason"),
            ({"email": "ann@example.com", "reason": None}, "reason"),
            ({"email": "ann@example.com", "reason": "x" * 501}, "reason"),
            ({"email": "ann@example.com", "reason": "x", "scope": "ann@example.com"}, "scope"),
            (
                {"email": "ann@example.com", "reason": "x", "suppress": "ann@example.com"},
                "suppress",
            ),
            ({"email": "ann@example.com", "reason": "x", "requestId": "r" * 101}, "requestId"),
            ({"email": "ann@example.com", "reason": "x", "requestId": ""}, "requestId"),
        ],
    )
    def test_is_400_naming_the_field_without_the_value(self, api_client, bridged, body, field):
        response = erase(api_client, body)

        assert response.status_code == 400
        assert response.json()["code"] == "invalid"
        assert field in response.json()["errors"]
        assert_no_value(response.content.decode())
        assert not Erasure.objects.exists()
        assert Contact.objects.count() == 3

    @pytest.mark.parametrize(
        "body", [b"email=ann@example.com", b'{"email": "ann@example.com",', b"[1, 2]", b'"a"']
    )
    def test_a_body_that_is_not_a_json_object_is_400(self, api_client, bridged, body):
        response = api_client.generic("POST", ERASURES, body, content_type="application/json")

        assert response.status_code == 400
        assert_no_value(response.content.decode())
        assert not Erasure.objects.exists()

    def test_a_lone_surrogate_in_the_reason_is_400(self, api_client, bridged):
        body = b'{"email": "ann@example.com", "reason": "\\ud800"}'

        response = api_client.generic("POST", ERASURES, body, content_type="application/json")

        assert response.status_code == 400
        assert "reason" in response.json()["errors"]

    def test_another_content_type_is_415(self, api_client):
        response = api_client.generic(
            "POST", ERASURES, b"email=ann@example.com", content_type="text/plain"
        )

        assert response.status_code == 415
        assert response.json()["code"] == "unsupported_media_type"

    def test_an_unknown_contact_is_404(self, api_client, bridged):
        response = erase(api_client, {"contactId": 9999, "reason": "ticket 1"})

        assert response.status_code == 404
        assert response.json() == {"detail": "No contact #9999.", "code": "contact_not_found"}
        assert not Erasure.objects.exists()

    @pytest.mark.parametrize(
        ("body", "header", "field"),
        [
            ({"requestId": "ticket-1"}, "ticket-2", "requestId"),
            ({}, " ", "Idempotency-Key"),
            ({}, "k" * 101, "Idempotency-Key"),
        ],
    )
    def test_an_idempotency_key_that_is_blank_too_long_or_differs_is_400(
        self, api_client, bridged, body, header, field
    ):
        response = erase(
            api_client,
            {"email": "ann@example.com", "reason": "ticket 1", **body},
            **{"Idempotency-Key": header},
        )

        assert response.status_code == 400
        assert field in response.json()["errors"]
        assert not Erasure.objects.exists()


class TestErasure:
    def test_without_a_scope_only_the_value_s_contacts_go(self, api_client, bridged):
        response = erase(api_client, {"email": BRIDGE, "reason": "ticket 1"})

        assert response.status_code == 201
        assert response.json()["scope"] == "identifier"
        assert sorted(response.json()["primaryIds"]) == sorted(bridged.values())

    def test_an_erased_bridge_leaves_two_identities(self, api_client, bridged):
        response = erase(api_client, {"email": BRIDGE, "scope": "identifier", "reason": "ticket 1"})

        assert response.status_code == 201
        record = response.json()
        assert record["scope"] == "identifier"
        assert record["subject"] == "email"
        assert record["subjectContactId"] is None
        assert record["suppress"] is False
        assert record["counts"] == {
            "contacts": 1,
            "linkRecords": 1,
            "heldMerges": 0,
            "blockedValues": 0,
            "historyEvents": record["counts"]["historyEvents"],
            "adminLogEntries": 0,
        }
        assert record["counts"]["historyEvents"] >= 2
        assert record["primaryIds"] == sorted(bridged.values())
        [bridge_contact] = record["contactIds"]
        assert not Contact.objects.filter(id=bridge_contact).exists()
        assert [(entry["kind"], entry["contacts"]) for entry in record["identifiers"]] == [
            ("email", 1)
        ]
        assert primary_of(api_client, email="ann@example.com") == bridged["ann"]
        assert primary_of(api_client, email="bob@example.com") == bridged["bob"]
        assert primary_of(api_client, phoneNumber="5551002") == bridged["bob"]
        assert not IdentityLink.objects.exists()

    def test_an_identity_erasure_takes_every_contact_of_the_identity(self, api_client, bridged):
        ids = sorted(Contact.objects.values_list("id", flat=True))

        response = erase(
            api_client, {"phoneNumber": "555-1002", "scope": "identity", "reason": "ticket 1"}
        )

        assert response.status_code == 201
        assert response.json()["scope"] == "identity"
        assert response.json()["subject"] == "phone"
        assert response.json()["contactIds"] == ids
        assert response.json()["counts"]["contacts"] == len(ids) == 3
        assert response.json()["primaryIds"] == []
        assert not Contact.objects.exists()
        assert len(response.json()["identifiers"]) == 5

    def test_a_contact_id_names_the_identity(self, api_client, bridged):
        response = erase(
            api_client, {"contactId": bridged["bob"], "scope": "identity", "reason": "ticket 1"}
        )

        assert response.status_code == 201
        assert response.json()["subject"] == "contact"
        assert response.json()["subjectContactId"] == bridged["bob"]
        assert not Contact.objects.exists()

    def test_the_answer_and_the_record_hold_no_email_or_phone(
        self, api_client, bridged, log_output
    ):
        response = erase(api_client, {"email": BRIDGE, "reason": "ticket 1", "suppress": True})

        assert response.status_code == 201
        assert_no_value(response.content.decode())
        assert_no_value(json.dumps(dict(response.headers)))
        erasure = Erasure.objects.get()
        assert_no_value(json.dumps(model_to_dict(erasure), default=str))
        for entry in ErasedIdentifier.objects.all():
            assert_no_value(json.dumps(model_to_dict(entry), default=str))
        assert_no_value(json.dumps(log_output()))

    def test_the_location_answers_the_same_record(self, api_client, bridged):
        created = erase(api_client, {"email": BRIDGE, "reason": "ticket 1"})

        response = api_client.get(created["Location"])

        assert created["Location"] == f"{ERASURES}{created.json()['id']}/"
        assert response.status_code == 200
        assert response.json() == created.json()
        assert "Idempotent-Replayed" not in created

    def test_an_unknown_erasure_is_404(self, api_client):
        response = api_client.get(f"{ERASURES}12345/")

        assert response.status_code == 404
        assert response.json() == {"detail": "No erasure #12345.", "code": "erasure_not_found"}

    def test_a_value_no_contact_carries_is_recorded_with_nothing_erased(self, api_client, bridged):
        response = erase(api_client, {"email": "nobody@example.com", "reason": "ticket 1"})

        assert response.status_code == 201
        assert response.json()["contactIds"] == []
        assert response.json()["counts"]["contacts"] == 0
        assert Contact.objects.count() == 3


class TestIdempotency:
    def test_the_same_request_id_answers_the_same_record_and_erases_nothing_more(
        self, api_client, identify, bridged
    ):
        body = {"email": BRIDGE, "scope": "identifier", "reason": "ticket 1", "requestId": "t-1"}
        first = erase(api_client, body)
        comeback = identify(email=BRIDGE, phone="5551003")["primaryContactId"]

        again = erase(api_client, body)

        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        assert again["Idempotent-Replayed"] == "true"
        assert again["Location"] == first["Location"]
        assert "Idempotent-Replayed" not in first
        assert Erasure.objects.count() == 1
        assert Contact.objects.filter(id=comeback).exists()

    def test_the_header_is_a_request_id_too(self, api_client, bridged):
        body = {"email": BRIDGE, "reason": "ticket 1"}
        first = erase(api_client, body, **{"Idempotency-Key": "t-1"})

        again = erase(api_client, {**body, "requestId": "t-1"}, **{"Idempotency-Key": "t-1"})

        assert again.json()["id"] == first.json()["id"]
        assert again["Idempotent-Replayed"] == "true"
        assert Erasure.objects.get().request_id == "t-1"

    @pytest.mark.parametrize(
        "other",
        [
            {"email": "bob@example.com"},
            {"phoneNumber": "5551002"},
            {"email": BRIDGE, "scope": "identity"},
            {"email": BRIDGE, "suppress": True},
        ],
    )
    def test_a_request_id_used_for_another_erasure_is_422(self, api_client, bridged, other):
        erase(
            api_client, {"email": BRIDGE, "scope": "identifier", "reason": "x", "requestId": "t-1"}
        )

        response = erase(
            api_client, {"scope": "identifier", "reason": "x", "requestId": "t-1", **other}
        )

        assert response.status_code == 422
        assert response.json()["code"] == "request_id_reused"
        assert response.json()["errors"] == {"requestId": ["Already used by another erasure."]}
        assert_no_value(response.content.decode())
        assert Erasure.objects.count() == 1
        assert Contact.objects.filter(email="bob@example.com").exists()


class TestSuppression:
    def test_a_suppressed_email_is_refused_by_identify_and_the_lookup_writing_nothing(
        self, api_client, bridged
    ):
        erase(api_client, {"email": "bob@example.com", "reason": "ticket 1", "suppress": True})
        before = Contact.objects.count()

        identified = api_client.post(
            "/identify/", {"email": "Bob@Example.com", "phoneNumber": "5559999"}, format="json"
        )
        looked_up = api_client.post(
            "/identities/lookup/", {"email": "bob@example.com"}, format="json"
        )

        for response in (identified, looked_up):
            assert response.status_code == 422
            assert response.json()["code"] == "suppressed"
            assert "email" in response.json()["errors"]
            assert_no_value(response.content.decode())
        assert Contact.objects.count() == before

    def test_without_suppression_the_person_comes_back_as_a_new_primary(
        self, api_client, identify, bridged
    ):
        erased = erase(api_client, {"email": "bob@example.com", "reason": "ticket 1"}).json()

        again = identify(email="bob@example.com", phone="5559999")

        assert again["primaryContactId"] not in erased["contactIds"]
        assert again["primaryContactId"] > max(erased["contactIds"])
        assert again["secondaryContactIds"] == []
        assert again["emails"] == ["bob@example.com"]


def documented_examples(client: APIClient, path: str, method: str) -> dict[str, list[dict]]:
    operation = client.get("/api/schema/", {"format": "json"}).json()["paths"][path][method]
    return {
        status: [
            example["value"]
            for example in response["content"]["application/json"].get("examples", {}).values()
        ]
        for status, response in operation["responses"].items()
    }


class TestDocumentedAnswers:
    def test_the_erasure_examples_are_what_the_api_answers(self, api_client, bridged):
        examples = documented_examples(api_client, "/privacy/erasures/", "post")
        invalid = erase(api_client, {"email": "lorraine@", "reason": "ticket 4411"})
        two = erase(api_client, {"email": "lorraine@hillvalley.edu", "contactId": 1, "reason": "x"})
        unknown = erase(api_client, {"contactId": 99, "reason": "ticket 1"})
        created = erase(api_client, {"email": BRIDGE, "reason": "ticket 1"})

        assert sorted([invalid.json(), two.json()], key=str) == sorted(examples["400"], key=str)
        assert examples["404"] == [unknown.json()]
        [example] = examples["201"]
        assert set(example) == set(created.json())
        assert set(example["counts"]) == set(created.json()["counts"])
        assert set(example["identifiers"][0]) == set(created.json()["identifiers"][0])

    def test_the_record_examples_are_what_the_api_answers(self, api_client):
        examples = documented_examples(api_client, "/privacy/erasures/{erasure_id}/", "get")

        assert examples["404"] == [api_client.get(f"{ERASURES}99/").json()]

    @pytest.mark.parametrize(
        ("path", "method"),
        [
            ("/privacy/erasures/", "post"),
            ("/privacy/erasures/{erasure_id}/", "get"),
            ("/privacy/exports/", "post"),
        ],
    )
    def test_the_access_examples_are_what_the_api_answers(
        self, api_client, api_keys_required, path, method
    ):
        examples = documented_examples(api_client, path, method)
        url = path.replace("{erasure_id}", "1")

        def call(key: str | None = None) -> dict:
            headers = {"Authorization": f"Api-Key {key}"} if key else {}
            return api_client.generic(method.upper(), url, headers=headers).json()

        answers = {
            "401": [call(), call("AbCdEfGh.not-the-secret")],
            "403": [call(api_keys_required())],
        }

        assert sorted(answers["401"], key=str) == sorted(examples["401"], key=str)
        assert answers["403"] == examples["403"]
