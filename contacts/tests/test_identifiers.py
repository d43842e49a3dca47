"""One identity per person however an identifier is typed (docs/api.md "Identifiers"): look-alike
spellings land in one identity or are refused with 400, the admin finds them, and rows stored
before the rules existed are brought to the same form by ``manage.py reconcile``."""

import unicodedata
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from contacts.models import ClusterEvent, Contact, EventKind, IdentityLink
from contacts.roles import READ_ONLY
from contacts.tests.graph_model import assert_invariants

pytestmark = pytest.mark.django_db

NFD_CAFE = unicodedata.normalize("NFD", "café")
FULL_WIDTH_EXAMPLE = "".join(chr(ord(letter) + 0xFEE0) for letter in "example")

# (first spelling, second spelling, the canonical form both are stored and answered as)
EMAIL_LOOK_ALIKES = {
    "idn-and-punycode": ("doc@bücher.example", "doc@xn--bcher-kva.example", "doc@bücher.example"),
    "nfc-and-nfd": ("doc@café.example", f"doc@{NFD_CAFE}.example", "doc@café.example"),
    "upper-case-idn": ("doc@BÜCHER.example", "doc@bücher.example", "doc@bücher.example"),
    "full-width-domain": (f"doc@{FULL_WIDTH_EXAMPLE}.com", "doc@example.com", "doc@example.com"),
}
PHONE_LOOK_ALIKES = {
    "00-and-plus": ("0045515364398", "+45515364398", "+45515364398"),
    "00-with-spaces": ("00 45 51 53 64 39 8", "+45 515364398", "+45515364398"),
}
# Characters that render as nothing, placed where the issue saw them.
INVISIBLE_EMAILS = {
    "zero-width-space": "doc@exa\u200bmple.com",
    "zero-width-joiner": "doc@exa\u200dmple.com",
    "soft-hyphen": "doc@exa\u00admple.com",
    "byte-order-mark": "doc@\ufeffexample.com",
    "rtl-mark-after-tld": "doc@example.com\u200f",
    "rtl-override-before-domain": "doc@\u202eexample.com",
    "ascii-control-character": "doc@exa\x1fmple.com",
}


def post(api_client, body: dict):
    return api_client.post("/identify/", body, format="json")


class TestLookAlikeSpellingsAreOneIdentity:
    @pytest.mark.parametrize(
        ("first", "second", "canonical"), EMAIL_LOOK_ALIKES.values(), ids=EMAIL_LOOK_ALIKES.keys()
    )
    def test_emails(self, identify, first, second, canonical):
        before = identify(email=first, phone="123456")
        after = identify(email=second)

        assert after == before
        assert after["emails"] == [canonical]
        assert list(Contact.objects.values_list("email", flat=True)) == [canonical]

    @pytest.mark.parametrize(
        ("first", "second", "canonical"), PHONE_LOOK_ALIKES.values(), ids=PHONE_LOOK_ALIKES.keys()
    )
    def test_phone_numbers(self, identify, first, second, canonical):
        before = identify(email="doc@example.com", phone=first)
        after = identify(phone=second)

        assert after == before
        assert after["phoneNumbers"] == [canonical]

    def test_the_lookup_finds_the_identity_by_another_spelling(self, identify, api_client):
        created = identify(email="doc@bücher.example")

        response = api_client.post(
            "/identities/lookup/", {"email": "DOC@xn--bcher-kva.example"}, format="json"
        )

        assert response.status_code == 200, response.content
        assert response.json()["contact"] == created


class TestInvisibleCharactersAreRefused:
    @pytest.mark.parametrize("email", INVISIBLE_EMAILS.values(), ids=INVISIBLE_EMAILS.keys())
    def test_in_an_email_400_names_the_field_and_writes_nothing(self, api_client, email):
        response = post(api_client, {"email": email, "phoneNumber": "123456"})

        assert response.status_code == 400
        body = response.json()
        assert list(body["errors"]) == ["email"]
        assert "invisible characters" in body["errors"]["email"][0]
        assert email not in response.content.decode()
        assert not Contact.objects.exists()

    def test_in_a_phone_number(self, api_client):
        response = post(api_client, {"phoneNumber": "123\u200b456"})

        assert response.status_code == 400
        assert "U+200B ZERO WIDTH SPACE" in response.json()["errors"]["phoneNumber"][0]


class TestDefaultRegion:
    @pytest.fixture(autouse=True)
    def region(self, settings):
        settings.PHONE_DEFAULT_REGION = "IN"

    def test_national_and_international_forms_are_one_e164_number(self, identify):
        before = identify(email="doc@example.com", phone="098765 43210")
        after = identify(phone="+91 98765 43210")

        assert after == before
        assert after["phoneNumbers"] == ["+919876543210"]

    def test_a_number_invalid_in_the_region_keeps_its_digits(self, identify):
        assert identify(phone="123456")["phoneNumbers"] == ["123456"]

    def test_an_unknown_region_stops_the_settings_from_loading(self, django_process):
        result = django_process("manage.py", "check", env={"PHONE_DEFAULT_REGION": "XX"})

        assert result.returncode != 0
        assert "PHONE_DEFAULT_REGION='XX'" in result.stderr


class TestAdminSearch:
    @pytest.mark.parametrize(
        "term",
        ["doc@xn--bcher-kva.example", "DOC@BÜCHER.EXAMPLE", "doc@bü\u200bcher.example"],
        ids=["punycode", "upper-case", "pasted-with-a-zero-width-space"],
    )
    def test_finds_the_canonical_contact(self, identify, staff_client, term):
        identify(email="doc@bücher.example")
        client = staff_client(READ_ONLY)

        for url in ("/admin/contacts/contact/", "/admin/contacts/cluster/"):
            response = client.get(url, {"q": term})

            assert response.status_code == 200
            assert response.context["cl"].result_count == 1, url


@pytest.fixture
def legacy_rows(make_contact):
    """Three people as an earlier version stored them: look-alike spellings in separate clusters,
    and a link record written with a punycode domain that bridges two of them."""
    books = make_contact(email="doc@bücher.example")
    books_punycode = make_contact(email="doc@xn--bcher-kva.example", phone="111")
    cafe = make_contact(email="marty@café.example")
    cafe_nfd = make_contact(email=f"marty@{NFD_CAFE}.example", phone="0045515364398")
    plus = make_contact(phone="+45515364398")
    hidden = make_contact(email="biff@exa\u200bmple.com")
    plain = make_contact(email="biff@example.com")
    bridged = make_contact(phone="222")
    IdentityLink.objects.create(email="marty@xn--caf-dma.example", phone_number="222")
    return {
        "books": [books, books_punycode],
        "cafe": [cafe, cafe_nfd, plus, bridged],
        "biff": [hidden, plain],
    }


def reconcile(*args: str) -> str:
    out = StringIO()
    call_command("reconcile", *args, "--no-progress", stdout=out)
    return out.getvalue()


class TestReconcileBringsStoredRowsToCanonicalForm:
    def test_check_lists_them_and_fails(self, legacy_rows):
        with pytest.raises(CommandError) as raised:
            reconcile("--check")

        assert raised.value.returncode == 1
        assert "4 contacts not in canonical form" in str(raised.value)
        assert not ClusterEvent.objects.exists()

    def test_dry_run_changes_nothing(self, legacy_rows):
        before = list(Contact.objects.values_list("id", "email", "phone_number", "linked_id"))

        output = reconcile("--dry-run")

        assert output.count("identifiers not in canonical form") == 4
        assert list(Contact.objects.values_list("id", "email", "phone_number", "linked_id")) == (
            before
        )

    def test_repair_merges_each_person_with_history(self, legacy_rows):
        reconcile()

        for person, contacts in legacy_rows.items():
            primary, *others = contacts
            for contact in others:
                contact.refresh_from_db()
                assert contact.linked_id == primary.id, (person, contact.id)
        assert set(Contact.objects.values_list("email", flat=True)) == {
            None,
            "doc@bücher.example",
            "marty@café.example",
            "biff@example.com",
        }
        assert set(Contact.objects.values_list("phone_number", flat=True)) == {
            None,
            "111",
            "+45515364398",
            "222",
        }
        assert list(IdentityLink.objects.values_list("email", "phone_number")) == [
            ("marty@café.example", "222")
        ]
        canonicalized = ClusterEvent.objects.filter(kind=EventKind.CANONICALIZED)
        assert canonicalized.count() == 3
        event = canonicalized.get(contact_id=legacy_rows["books"][1].id)
        assert event.details["email"] == ["doc@xn--bcher-kva.example", "doc@bücher.example"]
        merged = ClusterEvent.objects.filter(kind=EventKind.MERGED)
        assert set(merged.values_list("primary_id", flat=True)) == {
            contacts[0].id for contacts in legacy_rows.values()
        }
        assert_invariants()
        reconcile("--check")

    def test_a_second_run_changes_nothing(self, legacy_rows):
        reconcile()
        events = ClusterEvent.objects.count()

        output = reconcile()

        assert "identifiers not in canonical form" not in output
        assert ClusterEvent.objects.count() == events

    def test_soft_deleted_contacts_are_canonicalized_too(self, make_contact):
        deleted = make_contact(email="doc@xn--bcher-kva.example", deleted=True)

        reconcile()

        deleted.refresh_from_db()
        assert deleted.email == "doc@bücher.example"
        assert deleted.deleted_at is not None

    def test_a_new_default_region_rewrites_national_numbers(self, make_contact, settings):
        national = make_contact(email="doc@example.com", phone="09876543210")
        international = make_contact(phone="+919876543210")
        settings.PHONE_DEFAULT_REGION = "IN"

        reconcile()

        national.refresh_from_db()
        international.refresh_from_db()
        assert national.phone_number == "+919876543210"
        assert international.linked_id == national.id
