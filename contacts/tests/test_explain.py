"""Why each contact belongs to its cluster: the breadth-first reasons of ``contacts.explain``."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from contacts.explain import Via, membership_reasons

START = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass
class Row:
    id: int
    email: str | None
    phone_number: str | None
    created_at: datetime = START


@dataclass
class Link:
    email: str
    phone_number: str


def rows(*pairs: tuple[str | None, str | None]) -> list[Row]:
    return [
        Row(id=index, email=email, phone_number=phone, created_at=START + timedelta(seconds=index))
        for index, (email, phone) in enumerate(pairs, start=1)
    ]


def test_each_contact_points_at_a_contact_nearer_the_primary_through_a_shared_identifier():
    contacts = rows(("a@x.io", "111"), ("b@x.io", "111"), ("b@x.io", "222"))

    reasons = membership_reasons(contacts=contacts, links=[], primary_id=1)

    assert reasons[1].via is Via.PRIMARY
    assert (reasons[2].via, reasons[2].contact_id, reasons[2].identifier) == (
        Via.SHARED_IDENTIFIER,
        1,
        ("phone", "111"),
    )
    assert (reasons[3].via, reasons[3].contact_id, reasons[3].identifier) == (
        Via.SHARED_IDENTIFIER,
        2,
        ("email", "b@x.io"),
    )


def test_a_link_record_explains_a_contact_joined_by_a_bridging_request():
    contacts = rows(("george@x.io", "919191"), ("biff@x.io", "717171"))
    link = Link(email="george@x.io", phone_number="717171")

    reasons = membership_reasons(contacts=contacts, links=[link], primary_id=1)

    assert reasons[2].via is Via.LINK_RECORD
    assert reasons[2].contact_id == 1
    assert reasons[2].identifier == ("phone", "717171")
    assert reasons[2].link is link


def test_a_shared_identifier_is_preferred_to_a_link_record():
    contacts = rows(("a@x.io", "111"), ("a@x.io", "222"))

    reasons = membership_reasons(
        contacts=contacts, links=[Link(email="a@x.io", phone_number="222")], primary_id=1
    )

    assert reasons[2].via is Via.SHARED_IDENTIFIER


def test_a_contact_with_no_path_to_the_primary_is_reported_unreached():
    contacts = rows(("a@x.io", "111"), ("b@x.io", "222"))

    reasons = membership_reasons(contacts=contacts, links=[], primary_id=1)

    assert reasons[2].via is Via.UNREACHED
    assert reasons[2].contact_id is None
