"""``manage.py import_contacts``: the outcome of sending the rows to ``/identify/``, in bulk."""

import json
import random
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from contacts.models import ClusterEvent, Contact, EventKind, IdentityLink, LinkPrecedence, Source
from contacts.services.identify import contact_identify
from contacts.tests.graph_model import assert_invariants
from contacts.tests.test_plan_caching import analyze_count
from contacts.tests.test_property import reset_tables

pytestmark = [pytest.mark.django_db, pytest.mark.pooler]

START = datetime(2024, 3, 1, tzinfo=UTC)


def random_orders(seed: int, count: int = 40) -> list[tuple[str | None, str | None, datetime]]:
    """Orders over a few emails and phones, each at its own time, in a shuffled order."""
    rng = random.Random(seed)
    emails = [f"user{i}@example.com" for i in range(12)]
    phones = [f"+44 {1000 + i}" for i in range(12)]
    orders = []
    for minute in rng.sample(range(10 * count), count):
        email = rng.choice(emails) if rng.random() < 0.85 else None
        phone = rng.choice(phones) if email is None or rng.random() < 0.8 else None
        orders.append((email, phone, START + timedelta(minutes=minute)))
    return orders


def write_csv(path: Path, orders: list) -> Path:
    lines = ["email,phoneNumber,createdAt"]
    lines += [f"{email or ''},{phone or ''},{born.isoformat()}" for email, phone, born in orders]
    path.write_text("\n".join(lines) + "\n")
    return path


def import_file(path: Path, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_contacts", str(path), *args, "--no-progress", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def outcome() -> dict:
    """Contacts in creation order, each with the position of its primary; link records."""
    contacts = list(
        Contact.objects.order_by("id").values_list("id", "email", "phone_number", "linked_id")
    )
    position = {contact_id: index for index, (contact_id, *_) in enumerate(contacts)}
    return {
        "contacts": [
            (email, phone, position[linked_id] if linked_id else None)
            for _, email, phone, linked_id in contacts
        ],
        "links": set(IdentityLink.objects.values_list("email", "phone_number")),
    }


@pytest.mark.parametrize("seed", range(12))
def test_import_equals_identify_called_row_by_row_in_created_time_order(tmp_path, seed):
    orders = random_orders(seed)
    for email, phone, _ in sorted(orders, key=lambda order: order[2]):
        contact_identify(email=email, phone_number=phone.replace(" ", "") if phone else None)
    expected = outcome()
    reset_tables()

    import_file(write_csv(tmp_path / "orders.csv", orders), "--write")

    assert outcome() == expected
    assert_invariants()


def test_imported_contacts_keep_their_created_time_and_the_oldest_leads(tmp_path):
    path = write_csv(
        tmp_path / "orders.csv",
        [
            ("newer@example.com", "111", START + timedelta(days=2)),
            ("older@example.com", "111", START),
        ],
    )

    import_file(path, "--write")

    older = Contact.objects.get(email="older@example.com")
    newer = Contact.objects.get(email="newer@example.com")
    assert older.created_at == START
    assert older.link_precedence == LinkPrecedence.PRIMARY
    assert newer.linked_id == older.id


def test_bad_rows_are_reported_with_their_line_numbers_and_the_rest_is_imported(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(
        "email,phoneNumber,createdAt\n"
        "good@example.com,111,2024-01-01T10:00:00Z\n"
        "not-an-email,222,\n"
        ",,\n"
        "other@example.com,12,\n"
        "late@example.com,333,yesterday\n"
        '"multi\nline@example.com",444,\n'
        "fine@example.com,(555) 123,2024-01-02\n"
    )

    out, err = import_file(path, "--write")

    assert err.splitlines() == [
        "orders.csv:3: email: Enter a valid email address.",
        "orders.csv:4: needs an email or a phone number",
        "orders.csv:5: phoneNumber: Must be 3 to 20 digits, optionally after one leading '+'; "
        "spaces, '-', '.', '(' and ')' are ignored.",
        "orders.csv:6: createdAt: not an ISO 8601 date and time",
        "orders.csv:8: email: Enter a valid email address.",
    ]
    assert "2 valid rows (5 rejected)" in out
    assert set(Contact.objects.values_list("email", "phone_number")) == {
        ("good@example.com", "111"),
        ("fine@example.com", "555123"),
    }


def test_json_lines_are_read_like_the_api_body(tmp_path):
    path = tmp_path / "orders.jsonl"
    path.write_text(
        json.dumps({"email": " A@Example.com ", "phoneNumber": 123456, "createdAt": "2024-01-01"})
        + "\n\n"
        + "[1, 2]\n"
        + "{not json\n"
        + json.dumps({"phoneNumber": True})
        + "\n"
        + json.dumps({"email": "b@example.com", "phoneNumber": "123456"})
        + "\n"
    )

    _, err = import_file(path, "--write")

    assert [line.split(":", 2)[1] for line in err.splitlines()] == ["3", "4", "5"]
    assert list(Contact.objects.order_by("id").values_list("email", "phone_number")) == [
        ("a@example.com", "123456"),
        ("b@example.com", "123456"),
    ]


def test_a_dry_run_writes_nothing_and_reports_what_it_would_do(tmp_path, identify):
    identify(email="known@example.com", phone="999")
    before = list(Contact.objects.values_list("id", "linked_id", "updated_at"))
    path = write_csv(
        tmp_path / "orders.csv",
        [
            ("a@example.com", "111", START),
            ("b@example.com", "111", START + timedelta(hours=1)),
            ("known@example.com", "111", START + timedelta(hours=2)),
        ],
    )

    out, _ = import_file(path)

    assert out.startswith("Dry run, nothing written")
    assert "2 contacts created, 1 link records" in out
    assert list(Contact.objects.values_list("id", "linked_id", "updated_at")) == before
    assert IdentityLink.objects.count() == 0
    assert ClusterEvent.objects.count() == 1


def test_importing_the_same_file_twice_adds_nothing_the_second_time(tmp_path):
    path = write_csv(tmp_path / "orders.csv", random_orders(seed=99, count=60))
    import_file(path, "--write")
    before = outcome()
    events = ClusterEvent.objects.count()

    out, _ = import_file(path, "--write")

    assert "0 contacts created, 0 link records, 60 rows already known" in out
    assert outcome() == before
    assert ClusterEvent.objects.count() == events


def test_an_import_into_stored_clusters_merges_them_and_lets_the_oldest_lead(tmp_path, identify):
    first = identify(email="first@example.com", phone="111")["primaryContactId"]
    second = identify(email="second@example.com", phone="222")["primaryContactId"]
    path = write_csv(
        tmp_path / "orders.csv",
        [
            ("first@example.com", "222", START + timedelta(days=1)),
            ("ancient@example.com", "111", START),
        ],
    )

    out, _ = import_file(path, "--write")

    ancient = Contact.objects.get(email="ancient@example.com")
    assert "1 contacts created, 1 link records" in out
    assert set(Contact.objects.exclude(id=ancient.id).values_list("linked_id", flat=True)) == {
        ancient.id
    }
    assert ancient.link_precedence == LinkPrecedence.PRIMARY
    assert {first, second} <= set(Contact.objects.values_list("id", flat=True))
    assert_invariants()


def test_the_history_has_one_event_per_cluster_that_gained_contacts(tmp_path):
    path = write_csv(
        tmp_path / "shop.csv",
        [
            ("a@example.com", "111", START),
            ("b@example.com", "111", START + timedelta(hours=1)),
            ("c@example.com", "222", START + timedelta(hours=2)),
        ],
    )

    import_file(path, "--write")

    a, b, c = Contact.objects.order_by("id")
    events = list(
        ClusterEvent.objects.order_by("id").values_list(
            "kind", "source", "contact_id", "primary_id", "details"
        )
    )
    assert events == [
        (
            EventKind.PRIMARY_CREATED,
            Source.COMMAND,
            a.id,
            a.id,
            {"import": "shop.csv", "contacts": [a.id, b.id]},
        ),
        (
            EventKind.PRIMARY_CREATED,
            Source.COMMAND,
            c.id,
            c.id,
            {"import": "shop.csv", "contacts": [c.id]},
        ),
    ]


def test_a_file_of_unknown_format_is_refused(tmp_path):
    path = tmp_path / "orders.txt"
    path.write_text("email\n")

    with pytest.raises(CommandError, match="pass --format"):
        import_file(path)
    out, _ = import_file(path, "--format", "csv")
    assert "0 valid rows" in out


def test_contacts_imported_into_a_stored_cluster_are_recorded_as_added_to_it(tmp_path, identify):
    primary = identify(email="stored@example.com", phone="111")["primaryContactId"]
    path = write_csv(
        tmp_path / "later.csv",
        [
            ("new1@example.com", "111", datetime.now(UTC) + timedelta(days=1)),
            ("new2@example.com", "111", datetime.now(UTC) + timedelta(days=2)),
        ],
    )

    import_file(path, "--write")

    new1, new2 = Contact.objects.filter(email__startswith="new").order_by("id")
    assert {new1.linked_id, new2.linked_id} == {primary}
    event = ClusterEvent.objects.get(source=Source.COMMAND)
    assert (event.kind, event.contact_id, event.primary_id) == (
        EventKind.SECONDARY_ADDED,
        new1.id,
        primary,
    )
    assert event.details == {"import": "later.csv", "contacts": [new1.id, new2.id]}


@pytest.mark.postgres
def test_an_import_gathers_the_statistics_of_what_it_loaded(tmp_path):
    """What follows the import (its own reconciliation of stored clusters, then the API) is
    planned from what the tables hold, not from the empty table autovacuum last saw."""
    path = write_csv(tmp_path / "orders.csv", random_orders(seed=3))
    before = analyze_count()

    import_file(path, "--write")

    assert analyze_count() == before + 1


@pytest.mark.postgres
def test_a_dry_run_gathers_no_statistics(tmp_path):
    path = write_csv(tmp_path / "orders.csv", random_orders(seed=3))
    before = analyze_count()

    import_file(path)

    assert analyze_count() == before
