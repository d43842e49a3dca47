"""``manage.py import_contacts``: the outcome of sending the rows to ``/identify/``, in bulk."""

import json
import os
import random
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import TextIO

import pytest
from django.core.management import CommandError, call_command

from contacts.management.commands.import_contacts import EXIT_REJECTED
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
    out, err, status = run_import(path, *args, "--no-progress")
    assert status == 0, err
    return out, err


def run_import(path: Path, *args: str, stderr: TextIO | None = None) -> tuple[str, str, int]:
    """The command's stdout, stderr and exit status."""
    out, err = StringIO(), stderr or StringIO()
    try:
        call_command("import_contacts", str(path), *args, stdout=out, stderr=err)
    except CommandError as error:
        err.write(f"CommandError: {error}\n")
        status = error.returncode
    else:
        status = 0
    return out.getvalue(), err.getvalue() if stderr is None else "", status


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

    out, err, status = run_import(path, "--write", "--no-progress")

    assert status == EXIT_REJECTED
    assert err.splitlines()[:-1] == [
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

    _, err, status = run_import(path, "--write", "--no-progress")

    assert status == EXIT_REJECTED
    assert [line.split(":", 2)[1] for line in err.splitlines()[:-1]] == ["3", "4", "5"]
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
    assert "2 contacts created, 1 link record," in out
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
    assert "1 contact created, 1 link record," in out
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

    _, err, status = run_import(path, "--no-progress")
    assert (status, err) == (
        1,
        "CommandError: Cannot tell the format of orders.txt: pass --format.\n",
    )
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


def figures(summary: str) -> str:
    """The summary without the words that tell a dry run from a write."""
    return summary.split(" import ", 1)[-1] if summary.startswith("Dry run") else summary[9:]


@pytest.fixture
def stored_clusters(make_contact):
    """Three stored clusters, one of them with a stale primary, for imports to grow and merge."""
    first = make_contact(email="first@example.com", phone="111")
    make_contact(email="first2@example.com", phone="111", linked=first)
    second = make_contact(email="second@example.com", phone="222")
    make_contact(email="second2@example.com", phone="222", linked=second)
    make_contact(email="third@example.com", phone="333")
    return first, second


SCENARIOS = {
    "merges, new clusters and rejects": [
        "first@example.com,222,2030-01-01T00:00:00Z",  # a link record: merges first and second
        "new@example.com,999,2030-01-02T00:00:00Z",  # a new cluster
        "new2@example.com,999,2030-01-03T00:00:00Z",  # ... that grows
        "third3@example.com,333,2030-01-04T00:00:00Z",  # a stored cluster gains a contact
        "not-an-email,444,",  # rejected
    ],
    "an imported contact older than the stored ones leads": [
        "ancient@example.com,222,2000-01-01T00:00:00Z",  # leads second's cluster: relinks it
        "ancient@example.com,111,2000-01-02T00:00:00Z",  # and merges first's into it
        ",12,",  # rejected
    ],
    "nothing new": ["first@example.com,111,2030-01-01T00:00:00Z"],
}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=list(SCENARIOS))
def test_a_dry_run_and_the_write_of_a_file_report_the_same_figures(
    tmp_path, stored_clusters, scenario
):
    path = tmp_path / "orders.csv"
    path.write_text("email,phoneNumber,createdAt\n" + "\n".join(SCENARIOS[scenario]) + "\n")
    stored = dict(Contact.objects.values_list("id", "linked_id"))

    dry, _, dry_status = run_import(path, "--no-progress")
    written, _, status = run_import(path, "--write", "--no-progress")

    assert dry.startswith("Dry run, nothing written: would import ")
    assert written.startswith("Imported ")
    assert figures(dry) == figures(written)
    assert dry_status == status
    after = dict(Contact.objects.filter(id__in=stored).values_list("id", "linked_id"))
    relinked = sorted(i for i in stored if after[i] != stored[i])
    assert f"{len(relinked)} stored contact" in written
    assert_invariants()


def test_the_figures_count_new_clusters_apart_from_stored_ones_that_grew(tmp_path, stored_clusters):
    path = tmp_path / "orders.csv"
    path.write_text(
        "email,phoneNumber,createdAt\n"
        + "\n".join(SCENARIOS["merges, new clusters and rejects"])
        + "\n"
    )

    out, _, _ = run_import(path, "--write", "--no-progress")

    assert out.strip() == (
        "Imported 4 valid rows (1 rejected): 3 contacts created, 1 link record, "
        "0 rows already known; 1 new cluster, 1 stored cluster gained contacts, "
        "2 stored clusters merged into 1, 2 stored contacts relinked; 0 rows with only blocked "
        "values and 0 rows joining a never-link pair left out."
    )


def test_counts_of_one_are_singular(tmp_path):
    path = write_csv(tmp_path / "orders.csv", [("one@example.com", "111", START)])

    out, _ = import_file(path, "--write")

    assert out.startswith(
        "Imported 1 valid row (0 rejected): 1 contact created, 0 link records, 0 rows already "
        "known; 1 new cluster, 0 stored clusters gained contacts, 0 stored clusters merged, "
        "0 stored contacts relinked;"
    )


@pytest.mark.parametrize("write", [False, True], ids=["dry run", "write"])
@pytest.mark.parametrize(
    ("lines", "expected"),
    [(["a@example.com,111,"], 0), (["a@example.com,111,", "bad,222,"], EXIT_REJECTED)],
    ids=["no rejects", "rejects"],
)
def test_the_exit_status_says_whether_rows_were_rejected(tmp_path, write, lines, expected):
    path = tmp_path / "orders.csv"
    path.write_text("email,phoneNumber,createdAt\n" + "\n".join(lines) + "\n")

    out, err, status = run_import(path, *(["--write"] if write else []), "--no-progress")

    assert status == expected
    assert "1 valid row" in out
    if expected:
        assert "1 row rejected" in err
    assert Contact.objects.count() == (1 if write else 0)


def test_progress_shows_every_phase_with_a_total_on_a_terminal(tmp_path, stored_clusters):
    path = write_csv(
        tmp_path / "orders.csv",
        [*random_orders(seed=5), ("first@example.com", "222", START)],
    )
    controller, terminal = os.openpty()
    with os.fdopen(terminal, "w") as stderr:
        _, _, status = run_import(path, "--write", stderr=stderr)
    shown = read_all(controller)

    assert status == 0
    for phase in ("reading", "loading", "planning", "writing", "reconciling"):
        assert f"{phase}: 100%" in shown, phase
    assert "<00:00" in shown  # the time left


def test_no_progress_is_shown_when_stderr_is_not_a_terminal(tmp_path):
    path = write_csv(tmp_path / "orders.csv", random_orders(seed=5))

    _, err, _ = run_import(path, "--write")

    assert err == ""


def read_all(controller: int) -> str:
    """What was written to a pseudo-terminal whose other end is closed."""
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the other end is closed and everything was read
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    return b"".join(chunks).decode()
