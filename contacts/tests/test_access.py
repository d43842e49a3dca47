"""Who may call the API (docs/api.md, "Access"): API keys, their scopes, and keys optional."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contacts.authentication import verified_keys
from contacts.models import ApiKey, ClusterEvent, Contact, IdentityLink, Scope
from contacts.services.api_keys import api_key_revoke

pytestmark = pytest.mark.django_db

BODY = {"email": "lorraine@hillvalley.edu", "phoneNumber": "123456"}


def post(api_client, *, key: str | None = None, path: str = "/identify/", body: dict = BODY):
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {key}"} if key is not None else {}
    return api_client.post(path, body, format="json", **headers)


def stored_rows() -> tuple[int, int, int]:
    return Contact.objects.count(), IdentityLink.objects.count(), ClusterEvent.objects.count()


class TestKeysRequired:
    def test_a_call_without_a_key_is_401_with_the_scheme_and_writes_nothing(
        self, api_client, api_keys_required
    ):
        response = post(api_client)

        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Api-Key"
        assert response.json() == {
            "detail": "Send an API key: `Authorization: Api-Key <key>`.",
            "code": "api_key_required",
        }
        assert stored_rows() == (0, 0, 0)

    @pytest.mark.parametrize(
        "key",
        ["AbCdEfGh.not-the-secret", "no-dot-at-all", "", "Api-Key"],
        ids=["unknown", "malformed", "empty", "keyword"],
    )
    def test_an_unknown_key_is_401(self, api_client, api_keys_required, key):
        api_keys_required()

        response = post(api_client, key=key)

        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Api-Key"
        assert stored_rows() == (0, 0, 0)

    def test_a_key_with_the_secret_changed_is_401(self, api_client, api_keys_required):
        key = api_keys_required()
        prefix, _, secret = key.partition(".")

        response = post(api_client, key=f"{prefix}.{secret[::-1]}")

        assert response.status_code == 401
        assert response.json()["code"] == "invalid_api_key"

    def test_an_identify_key_may_identify(self, api_client, api_keys_required):
        response = post(api_client, key=api_keys_required(scopes=[Scope.IDENTIFY]))

        assert response.status_code == 200
        assert response.json()["contact"]["emails"] == ["lorraine@hillvalley.edu"]

    def test_a_lookup_key_may_not_identify(self, api_client, api_keys_required):
        response = post(api_client, key=api_keys_required(scopes=[Scope.LOOKUP]))

        assert response.status_code == 403
        assert response.json() == {
            "detail": "This API key does not have the `identify` scope.",
            "code": "scope_missing",
        }
        assert stored_rows() == (0, 0, 0)

    def test_a_revoked_key_is_401_once_the_process_reads_it_again(
        self, api_client, api_keys_required, settings
    ):
        key = api_keys_required()
        assert post(api_client, key=key).status_code == 200

        api_key_revoke(api_key_id=ApiKey.objects.get().id)
        settings.API_KEY_CACHE_SECONDS = 0

        assert post(api_client, key=key).status_code == 401

    def test_a_revoked_key_works_at_most_for_the_cache_time(self, api_client, api_keys_required):
        key = api_keys_required()
        assert post(api_client, key=key).status_code == 200

        api_key_revoke(api_key_id=ApiKey.objects.get().id)

        assert post(api_client, key=key).status_code == 200
        verified_keys.forget()
        assert post(api_client, key=key).status_code == 401

    def test_an_expired_key_is_401_at_once(self, api_client, api_keys_required):
        key = api_keys_required(expiry_date=timezone.now() + timedelta(seconds=60))
        assert post(api_client, key=key).status_code == 200

        ApiKey.objects.update(expiry_date=timezone.now() - timedelta(seconds=1))
        verified_keys.forget()

        assert post(api_client, key=key).status_code == 401

    def test_the_health_checks_and_the_docs_need_no_key(self, client, api_keys_required):
        for path in ("/health/", "/health/ready/", "/api/schema/"):
            assert client.get(path).status_code == 200, path


class TestKeysOptional:
    def test_a_call_without_a_key_is_served(self, api_client):
        assert post(api_client).status_code == 200

    def test_a_wrong_key_is_still_refused(self, api_client):
        response = post(api_client, key="AbCdEfGh.not-the-secret")

        assert response.status_code == 401
        assert Contact.objects.count() == 0


class TestSecrecy:
    def test_the_key_is_stored_only_as_a_hash(self, api_keys_required):
        key = api_keys_required()
        prefix, _, secret = key.partition(".")

        row = ApiKey.objects.values().get()

        assert row["prefix"] == prefix
        assert all(secret not in str(value) for value in row.values())
        assert row["hashed_key"].startswith("sha512$$")

    def test_the_log_line_names_the_key_and_never_holds_it(
        self, api_client, api_keys_required, log_output
    ):
        key = api_keys_required(name="checkout backend")
        prefix = key.partition(".")[0]

        post(api_client, key=key)

        lines = log_output()
        [request_line] = [line for line in lines if line.get("path") == "/identify/"]
        assert request_line["api_key"] == "checkout backend"
        assert request_line["api_key_prefix"] == prefix
        everything = "\n".join(str(line) for line in lines)
        assert key.partition(".")[2] not in everything
        assert BODY["email"] not in everything


class TestLastUse:
    def test_the_first_use_is_recorded_and_the_next_ones_within_a_minute_write_nothing(
        self, api_client, api_keys_required
    ):
        key = api_keys_required()
        post(api_client, key=key)
        first = ApiKey.objects.get().last_used_at
        assert first is not None

        with CaptureQueriesContext(connection) as queries:
            post(api_client, key=key)

        assert ApiKey.objects.get().last_used_at == first
        assert not [q for q in queries.captured_queries if "contacts_apikey" in q["sql"]]

    def test_another_process_does_not_write_again_within_the_minute(
        self, api_client, api_keys_required
    ):
        key = api_keys_required()
        post(api_client, key=key)
        first = ApiKey.objects.get().last_used_at

        verified_keys.forget()  # as a second worker process would start
        post(api_client, key=key)

        assert ApiKey.objects.get().last_used_at == first

    def test_a_use_after_the_minute_is_recorded(self, api_client, api_keys_required):
        key = api_keys_required()
        post(api_client, key=key)
        ApiKey.objects.update(last_used_at=timezone.now() - timedelta(minutes=2))
        verified_keys.forget()

        post(api_client, key=key)

        assert ApiKey.objects.get().last_used_at > timezone.now() - timedelta(minutes=1)


class TestRateLimitPerKey:
    def test_each_key_has_its_own_budget(self, api_client, api_keys_required, identify_rate):
        identify_rate("2/minute")
        first, second = api_keys_required(name="one"), api_keys_required(name="two")

        statuses = [post(api_client, key=first).status_code for _ in range(3)]
        other = post(api_client, key=second).status_code

        assert statuses == [200, 200, 429]
        assert other == 200


class TestCreateApiKeyCommand:
    def test_prints_a_working_key_once_and_stores_its_scopes(
        self, api_client, api_keys_required, capsys
    ):
        call_command("create_api_key", "shop", "--scope", "lookup", "--scope", "identify")

        out, err = capsys.readouterr()
        key = out.strip()
        api_key = ApiKey.objects.get()
        assert api_key.name == "shop"
        assert sorted(api_key.scopes) == ["identify", "lookup"]
        assert key.startswith(f"{api_key.prefix}.")
        assert key not in err
        assert post(api_client, key=key).status_code == 200

    def test_an_expiry_date_is_stored_in_utc(self, capsys):
        call_command("create_api_key", "shop", "--scope", "identify", "--expires", "2031-02-03")

        assert ApiKey.objects.get().expiry_date.isoformat() == "2031-02-03T00:00:00+00:00"


class TestDeployCheck:
    def test_check_deploy_warns_when_keys_are_off(self, django_process):
        result = django_process(
            "manage.py", "check", "--deploy", env={"API_KEYS_REQUIRED": "false", "DEBUG": "true"}
        )

        assert "contacts.W001" in result.stderr + result.stdout

    def test_check_deploy_is_quiet_about_keys_when_they_are_required(self, django_process):
        result = django_process("manage.py", "check", "--deploy", env={"DEBUG": "true"})

        assert "contacts.W001" not in result.stderr + result.stdout


class TestScopesPerEndpoint:
    @pytest.mark.parametrize(
        ("scope", "expected"),
        [
            (Scope.IDENTIFY, {"identify": 200, "lookup": 200, "identity": 200, "events": 403}),
            (Scope.LOOKUP, {"identify": 403, "lookup": 200, "identity": 200, "events": 403}),
            (Scope.EVENTS, {"identify": 403, "lookup": 403, "identity": 403, "events": 200}),
        ],
    )
    def test_each_scope_reaches_exactly_its_endpoints(
        self, api_client, api_keys_required, make_contact, scope, expected
    ):
        contact = make_contact(email="lorraine@hillvalley.edu", phone="123456")
        api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_keys_required(scopes=[scope])}")

        statuses = {
            "identify": api_client.post("/identify/", BODY, format="json").status_code,
            "lookup": api_client.post("/identities/lookup/", BODY, format="json").status_code,
            "identity": api_client.get(f"/identities/{contact.id}/").status_code,
            "events": api_client.get("/events/").status_code,
        }

        assert statuses == expected
