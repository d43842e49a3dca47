"""The pull feed of identity events, ``GET /events/`` (docs/api.md, "Events"): order, paging by
cursor, the type filter, bad input, the ``events`` scope, and payloads without personal data."""

import base64
import re
import time

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from contacts.models import ApiKey, EventSequencer, OutboxEvent, Scope
from contacts.selectors.events import feed_cursor
from contacts.services.identify import contact_identify
from contacts.tests.traffic import transaction_held_open

pytestmark = pytest.mark.django_db

LORRAINE = {"email": "lorraine@hillvalley.edu", "phone": "+15550100"}
MCFLY = {"email": "mcfly@hillvalley.edu", "phone": "+15550100"}
GEORGE = {"email": "george@hillvalley.edu", "phone": "+15550191"}
BIFF = {"email": "biffsucks@hillvalley.edu", "phone": "+15550171"}
BRIDGE = {"email": "george@hillvalley.edu", "phone": "+15550171"}


def feed(client: APIClient, **params: object) -> dict:
    response = client.get("/events/", params)
    assert response.status_code == 200, response.content
    return response.json()


def read_all(client: APIClient, *, limit: int, **params: object) -> list[dict]:
    """Every page from the start, checking that ``hasMore`` is false on the last one only."""
    events, cursor = [], None
    while True:
        page = feed(client, limit=limit, **params, **({"after": cursor} if cursor else {}))
        events += page["events"]
        cursor = page["next"]
        if not page["hasMore"]:
            return events
        assert len(page["events"]) == limit


@pytest.fixture
def customers(identify) -> dict[str, int]:
    """Lorraine, a second email of hers, George, Biff, then an order that merges George and Biff:
    five events, the last in two streams. Returns the primaries."""
    lorraine = identify(**LORRAINE)["primaryContactId"]
    identify(**MCFLY)
    george = identify(**GEORGE)["primaryContactId"]
    biff = identify(**BIFF)["primaryContactId"]
    identify(**BRIDGE)
    return {"lorraine": lorraine, "george": george, "biff": biff}


class TestOrder:
    def test_events_appear_in_order_after_identify_calls(self, api_client, customers):
        events = feed(api_client)["events"]

        assert [event["type"] for event in events] == [
            "identity.created",
            "identity.contact_added",
            "identity.created",
            "identity.created",
            "identity.merged",
        ]
        ids = [int(event["id"].removeprefix("evt_")) for event in events]
        assert ids == sorted(ids)
        assert len(set(ids)) == 5
        assert [(event["identityId"], event["sequence"]) for event in events[:2]] == [
            (customers["lorraine"], 1),
            (customers["lorraine"], 2),
        ]

    def test_the_merge_carries_both_streams_and_what_bridged_them(self, api_client, customers):
        [merged] = feed(api_client, types="identity.merged")["events"]

        george, biff = customers["george"], customers["biff"]
        assert merged["identityId"] == george
        assert merged["streams"] == [
            {"identityId": george, "sequence": 2},
            {"identityId": biff, "sequence": 2},
        ]
        assert merged["data"]["mergedIdentityIds"] == [biff]
        assert merged["data"]["bridgedBy"] == ["phoneNumber"]

    def test_the_feed_is_current_without_the_worker(self, api_client, identify):
        identify(**LORRAINE)
        assert not OutboxEvent.objects.exists()

        [created] = feed(api_client)["events"]

        assert created["type"] == "identity.created"
        assert created["id"] == f"evt_{OutboxEvent.objects.get().id}"


class TestPaging:
    @pytest.mark.parametrize("limit", [1, 2, 3, 5, 7])
    def test_pages_return_every_event_once_in_order(self, api_client, customers, identify, limit):
        identify(email="doc@hillvalley.edu")
        identify(email="marty@hillvalley.edu")
        everything = feed(api_client, limit=1000)["events"]
        assert len(everything) == 7

        assert read_all(api_client, limit=limit) == everything

    def test_has_more_is_false_when_the_page_takes_exactly_the_rest(self, api_client, customers):
        first = feed(api_client, limit=4)
        second = feed(api_client, limit=1, after=first["next"])

        assert first["hasMore"] is True
        assert (len(second["events"]), second["hasMore"]) == (1, False)

    def test_the_cursor_resumes_after_new_events(self, api_client, customers, identify):
        caught_up = feed(api_client)
        assert caught_up["hasMore"] is False

        again = feed(api_client, after=caught_up["next"])
        assert again == {"events": [], "next": caught_up["next"], "hasMore": False}

        identify(email="doc@hillvalley.edu")
        identify(**{**LORRAINE, "email": "lorraine@example.com"})
        new = feed(api_client, after=caught_up["next"])

        assert [event["type"] for event in new["events"]] == [
            "identity.created",
            "identity.contact_added",
        ]
        assert new["events"] == feed(api_client)["events"][5:]
        assert feed(api_client, after=new["next"])["events"] == []

    def test_an_empty_feed_answers_the_cursor_of_its_start(self, api_client, identify):
        start = feed(api_client)
        assert start == {"events": [], "next": feed_cursor(event_id=0), "hasMore": False}

        identify(**LORRAINE)

        assert len(feed(api_client, after=start["next"])["events"]) == 1

    def test_the_cursor_is_opaque_and_url_safe(self, api_client, customers):
        cursor = feed(api_client, limit=2)["next"]

        assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor)
        assert not cursor.isdigit()


class TestTypes:
    def test_only_the_types_asked_for(self, api_client, customers):
        created = feed(api_client, types="identity.created")["events"]
        both = feed(api_client, types="identity.merged, identity.contact_added")["events"]

        assert [event["identityId"] for event in created] == [
            customers["lorraine"],
            customers["george"],
            customers["biff"],
        ]
        assert [event["type"] for event in both] == ["identity.contact_added", "identity.merged"]

    def test_pages_of_one_type_skip_the_others(self, api_client, customers):
        events = read_all(api_client, limit=1, types="identity.created")

        assert events == feed(api_client, types="identity.created")["events"]
        assert len(events) == 3

    def test_no_event_of_the_type_keeps_the_cursor(self, api_client, customers):
        cursor = feed(api_client, limit=1)["next"]

        page = feed(api_client, after=cursor, types="identity.erased")

        assert page == {"events": [], "next": cursor, "hasMore": False}


def encoded(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def tampered_cursors() -> list[str]:
    """Cursors the feed never gives out: garbage, other encodings of a position, out of range."""
    return [
        "not-a-cursor",
        "5",
        encoded("evt:-1"),
        encoded("evt:007"),
        encoded("evt:99999999999999999999"),
        encoded("xyz:5"),
        feed_cursor(event_id=5) + "==",
        feed_cursor(event_id=5) + "!",
        "é" * 10,
        "\x00abc",
    ]


class TestBadInput:
    @pytest.mark.parametrize("cursor", tampered_cursors())
    def test_a_cursor_the_feed_never_gave_is_400_invalid_cursor(
        self, api_client, customers, cursor
    ):
        response = api_client.get("/events/", {"after": cursor})

        assert response.status_code == 400
        body = response.json()
        assert body["code"] == "invalid_cursor"
        assert list(body["errors"]) == ["after"]
        assert not OutboxEvent.objects.exists()

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"limit": "0"}, "limit"),
            ({"limit": "1001"}, "limit"),
            ({"limit": "-3"}, "limit"),
            ({"limit": "ten"}, "limit"),
            ({"limit": "9" * 5000}, "limit"),
            ({"types": "identity.created,identity.nope"}, "types"),
            ({"types": "IDENTITY.CREATED"}, "types"),
            ({"types": "identity.created\x00"}, "types"),
        ],
    )
    def test_a_bad_limit_or_type_is_400_naming_it(self, api_client, customers, params, field):
        response = api_client.get("/events/", params)

        assert response.status_code == 400
        body = response.json()
        assert (body["code"], list(body["errors"])) == ("invalid", [field])
        assert not OutboxEvent.objects.exists()

    def test_empty_parameters_count_as_absent(self, api_client, customers):
        assert feed(api_client, after="", limit="", types="") == feed(api_client)

    def test_the_unknown_type_is_named(self, api_client):
        response = api_client.get("/events/", {"types": "identity.created,contact.created"})

        assert "`contact.created`" in response.json()["errors"]["types"][0]

    def test_the_limit_bounds_the_page(self, api_client, customers):
        assert len(feed(api_client, limit=1000)["events"]) == 5
        assert len(feed(api_client, limit=2)["events"]) == 2
        assert len(feed(api_client)["events"]) == 5


class TestAccess:
    def get(self, key: str | None):
        headers = {"HTTP_AUTHORIZATION": f"Api-Key {key}"} if key is not None else {}
        return APIClient().get("/events/", **headers)

    def test_no_key_is_401(self, api_keys_required):
        response = self.get(None)

        assert response.status_code == 401
        assert response.json()["code"] == "api_key_required"

    @pytest.mark.parametrize("scope", [Scope.IDENTIFY, Scope.LOOKUP, Scope.PRIVACY])
    def test_a_key_without_the_events_scope_is_403(self, api_keys_required, scope):
        contact_identify(email=LORRAINE["email"], phone_number=LORRAINE["phone"])

        response = self.get(api_keys_required(scopes=[scope]))

        assert response.status_code == 403
        assert response.json() == {
            "detail": "This API key does not have the `events` scope.",
            "code": "scope_missing",
        }
        assert not OutboxEvent.objects.exists()

    def test_an_events_key_reads_the_feed_and_nothing_else(self, api_keys_required, make_contact):
        key = api_keys_required(scopes=[Scope.EVENTS])
        headers = {"HTTP_AUTHORIZATION": f"Api-Key {key}"}
        contact = make_contact(email=LORRAINE["email"])
        client = APIClient()

        assert self.get(key).status_code == 200
        assert client.get(f"/identities/{contact.id}/", **headers).status_code == 403
        identify = client.post("/identify/", {"email": "a@b.co"}, format="json", **headers)
        assert identify.status_code == 403

    def test_create_api_key_makes_an_events_key(self, api_keys_required, capsys):
        call_command("create_api_key", "crm sync", "--scope", "events")
        key = capsys.readouterr().out.strip()

        assert ApiKey.objects.get().scopes == ["events"]
        assert self.get(key).status_code == 200


class TestPrivacy:
    def test_payloads_hold_no_email_or_phone_number(self, api_client, customers):
        response = api_client.get("/events/")

        assert response.status_code == 200
        text = response.content.decode()
        values = {
            value
            for person in (LORRAINE, MCFLY, GEORGE, BIFF)
            for value in (person["email"], person["phone"], person["phone"].lstrip("+"))
        }
        assert [value for value in values if value in text] == []
        assert "@" not in text


class TestDocumentedExamples:
    def examples(self, client) -> dict[str, list[dict]]:
        operation = client.get("/api/schema/", {"format": "json"}).json()["paths"]["/events/"]
        responses = operation["get"]["responses"]
        return {
            status: [
                example["value"]
                for example in answer["content"]["application/json"]["examples"].values()
            ]
            for status, answer in responses.items()
        }

    @pytest.mark.parametrize(
        "params",
        [
            {"after": "not-a-cursor"},
            {"limit": "5000"},
            {"types": "identity.created,contact.created"},
        ],
    )
    def test_each_400_example_is_what_the_api_answers(self, api_client, params):
        response = api_client.get("/events/", params)

        assert response.status_code == 400
        assert response.json() in self.examples(api_client)["400"]

    def test_the_page_example_has_the_shape_of_a_real_page(self, api_client, customers):
        [example, _caught_up] = self.examples(api_client)["200"]
        real = feed(api_client)

        assert set(example) == set(real)
        assert {key for event in example["events"] for key in event} == {
            key for event in real["events"] for key in event
        }

    @pytest.mark.parametrize(("status", "scope"), [("401", None), ("403", Scope.IDENTIFY)])
    def test_each_access_example_is_what_the_api_answers(self, api_keys_required, status, scope):
        key = api_keys_required(scopes=[scope]) if scope else None
        headers = {"HTTP_AUTHORIZATION": f"Api-Key {key}"} if key else {}

        response = APIClient().get("/events/", **headers)

        assert str(response.status_code) == status
        assert response.json() in self.examples(APIClient())[status]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_sequencer_running_elsewhere_does_not_hold_the_feed_up(api_client, identify):
    """Another process holds the sequencer: the feed answers at once with what is sequenced, and
    the new history once that process is done."""
    identify(**LORRAINE)
    before = feed(api_client)["events"]
    with transaction_held_open(lambda: EventSequencer.objects.select_for_update().get(id=1)):
        identify(**GEORGE)
        started = time.monotonic()
        during = feed(api_client)["events"]
        assert time.monotonic() - started < 1.0
        assert during == before

    assert [event["type"] for event in feed(api_client)["events"]] == ["identity.created"] * 2
