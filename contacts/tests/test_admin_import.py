"""The contacts' *Import* page: the dry run's report, then the import, through the service of
``manage.py import_contacts`` (contacts/admin/importing.py)."""

import hashlib
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from contacts.admin.importing import MAX_UPLOAD_BYTES
from contacts.management.commands.import_contacts import EXIT_REJECTED
from contacts.models import Contact, IdentityLink
from contacts.roles import CORRECTIONS, READ_ONLY
from contacts.tests.graph_model import assert_invariants
from contacts.tests.test_import_contacts import START, outcome
from contacts.tests.test_property import reset_tables

pytestmark = pytest.mark.django_db

URL = reverse("admin:contacts_contact_import")
ORDERS = (
    b"email,phoneNumber,createdAt\n"
    b"first@example.com,222,2030-01-01T00:00:00Z\n"
    b"new@example.com,999,2030-01-02T00:00:00Z\n"
    b"secret-bad-email,444,\n"
)


def seed() -> None:
    for minute, (email, phone_number) in enumerate(
        [("first@example.com", "111"), ("second@example.com", "222")]
    ):
        Contact.objects.create(
            email=email, phone_number=phone_number, created_at=START + timedelta(minutes=minute)
        )


@pytest.fixture
def stored(db) -> None:
    seed()


def upload(content: bytes = ORDERS, name: str = "orders.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


def check(client, content: bytes = ORDERS, name: str = "orders.csv"):
    return client.post(URL, {"step": "check", "file": upload(content, name)})


def apply(client, content: bytes = ORDERS, digest: str | None = None):
    digest = digest or hashlib.sha256(content).hexdigest()
    return client.post(URL, {"step": "apply", "file": upload(content), "digest": digest})


def contacts() -> list[tuple]:
    return list(Contact.objects.order_by("id").values_list("email", "phone_number", "linked_id"))


class TestPermission:
    @pytest.mark.parametrize("role", [READ_ONLY, CORRECTIONS])
    def test_support_roles_without_the_add_permission_are_refused(self, staff_client, role):
        client = staff_client(role)

        assert client.get(URL).status_code == 403
        assert check(client).status_code == 403
        assert "Import…" not in client.get(reverse("admin:contacts_contact_changelist")).text

    def test_add_and_change_permissions_open_the_page(self, staff_client, django_user_model):
        client = staff_client(CORRECTIONS)
        user = django_user_model.objects.get(pk=client.session["_auth_user_id"])
        user.user_permissions.add(Permission.objects.get(codename="add_contact"))

        assert client.get(URL).status_code == 200
        assert "Import…" in client.get(reverse("admin:contacts_contact_changelist")).text


def test_the_dry_run_reports_figures_rejects_and_merges_and_writes_nothing(admin_client, stored):
    before = contacts()

    page = check(admin_client).text

    assert "Dry run, nothing written" in page
    assert hashlib.sha256(ORDERS).hexdigest() in page
    assert '<th scope="row">Rejected rows</th><td>1</td>' in page
    assert "<td>4</td><td>email: Enter a valid email address.</td>" in page
    assert "secret-bad-email" not in page
    assert '<th scope="row">Stored clusters merged</th><td>2 into 1</td>' in page
    assert 'id="import-merges"' in page
    assert contacts() == before
    assert not IdentityLink.objects.exists()


def test_apply_writes_what_the_command_writes(admin_client, stored, tmp_path):
    response = apply(admin_client)
    by_page = outcome()
    reset_tables()
    seed()
    path = tmp_path / "orders.csv"
    path.write_bytes(ORDERS)

    with pytest.raises(CommandError) as raised:
        call_command("import_contacts", str(path), "--write", stdout=StringIO(), stderr=StringIO())

    assert raised.value.returncode == EXIT_REJECTED
    assert "<strong>Imported</strong>" in response.text
    assert outcome() == by_page
    assert_invariants()


def test_another_file_than_the_one_checked_is_refused(admin_client, stored):
    response = apply(admin_client, digest=hashlib.sha256(b"other").hexdigest())

    assert response.status_code == 200
    assert "This is not the file the dry run checked" in response.text
    assert Contact.objects.count() == 2


def test_a_file_over_the_limit_is_a_form_error_and_nothing_is_written(admin_client, stored):
    content = ORDERS + b"x" * MAX_UPLOAD_BYTES

    for response in (check(admin_client, content), apply(admin_client, content)):
        assert response.status_code == 200
        assert "this page takes at most 2.0\xa0MB" in response.text
    assert Contact.objects.count() == 2


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"\xff\xfe\x00bad", "orders.csv", "The file is not UTF-8 text."),
        (b"email\na@example.com\n", "orders.txt", "Cannot tell the format"),
    ],
    ids=["not UTF-8", "unknown format"],
)
def test_a_bad_file_is_a_form_error(admin_client, content, name, message):
    response = check(admin_client, content, name)

    assert response.status_code == 200
    assert message in response.text
    assert not Contact.objects.exists()


def test_a_large_upload_kept_in_a_temporary_file_is_read_too(admin_client, settings):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 10

    page = check(admin_client).text

    assert '<th scope="row">Valid rows</th><td>2</td>' in page
