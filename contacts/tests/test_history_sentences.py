"""The history told in sentences with full timestamps (``contacts/admin/sentences.py``): every
event kind, requests with one identifier, erased values, and the site's time zone."""

import html
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.urls import reverse
from django.utils.html import strip_tags

from contacts.admin.sentences import event_sentence, history_entries, timestamp
from contacts.models import ClusterEvent, ErasureScope, EventKind, Source
from contacts.selectors.privacy import ErasureSubject
from contacts.services.corrections import contact_edit
from contacts.services.erasure import Requester, person_erase
from contacts.services.identify import contact_identify

WHEN = datetime(2026, 11, 30, 18, 39, 7, 123456, tzinfo=UTC)


def event(kind: EventKind, *, source: Source = Source.API, user=None, **fields) -> ClusterEvent:
    fields.setdefault("contact_id", 12)
    fields.setdefault("primary_id", 7)
    return ClusterEvent(kind=kind, source=source, user=user, created_at=WHEN, **fields)


def told(row: ClusterEvent, *, erased: bool = False) -> str:
    """The sentence as a reader sees it: tags stripped, entities decoded."""
    return html.unescape(strip_tags(event_sentence(row, erased=erased)))


def support() -> object:
    return get_user_model()(username="alice")


REQUEST = {"email": "doc@example.com", "phone_number": "111", "id": "f204eb13"}

SENTENCES = [
    (
        event(EventKind.PRIMARY_CREATED, contact_id=7, details={"request": REQUEST}),
        "An order with email doc@example.com and phone 111 created #7, a new identity.",
    ),
    (
        event(
            EventKind.PRIMARY_CREATED,
            contact_id=7,
            details={"request": {"email": "doc@example.com", "phone_number": None}},
        ),
        "An order with email doc@example.com created #7, a new identity.",
    ),
    (
        event(
            EventKind.SECONDARY_ADDED, details={"request": {"email": None, "phone_number": "222"}}
        ),
        "An order with phone 222 added #12 to identity #7 as a secondary.",
    ),
    (
        event(
            EventKind.PRIMARY_CREATED,
            source=Source.COMMAND,
            contact_id=7,
            details={"import": "march.csv", "contacts": [7, 8, 9]},
        ),
        "The import “march.csv” created identity #7 with #7, #8 and #9.",
    ),
    (
        event(
            EventKind.SECONDARY_ADDED,
            source=Source.COMMAND,
            details={"import": "march.csv", "contacts": [12, 13]},
        ),
        "The import “march.csv” added #12 and #13 to identity #7 as secondaries.",
    ),
    (
        event(
            EventKind.MERGED,
            details={"winner": 7, "loser": 12, "request": REQUEST, "bridged_by": ["phoneNumber"]},
        ),
        "An order with email doc@example.com and phone 111 made #12 a secondary of #7, merging "
        "their identities (its identity held the phone of the order).",
    ),
    (
        event(
            EventKind.MERGED,
            details={"winner": 7, "loser": 12, "request": REQUEST, "bridged_by": ["link"]},
        ),
        "An order with email doc@example.com and phone 111 made #12 a secondary of #7, merging "
        "their identities (a link record reached its identity).",
    ),
    (
        event(
            EventKind.MERGED,
            source=Source.ADMIN,
            user=support(),
            contact_id=7,
            details={"previous_primaries": [7, 12], "relinked": [12, 13]},
        ),
        "Support (alice) merged identity #12 into #7; relinked #12 and #13.",
    ),
    (
        event(
            EventKind.SPLIT,
            source=Source.ADMIN,
            user=support(),
            contact_id=12,
            primary_id=12,
            details={"previous_primaries": [7], "relinked": [12]},
        ),
        "Support (alice) split #12 off as an identity of its own (before: #7); relinked #12.",
    ),
    (
        event(
            EventKind.REPAIRED,
            source=Source.COMMAND,
            contact_id=7,
            details={"previous_primaries": [7, 9], "relinked": [9]},
        ),
        "A management command repaired the links of identity #7 (before: #7 and #9); relinked #9.",
    ),
    (
        event(
            EventKind.EDITED,
            source=Source.ADMIN,
            user=support(),
            details={"email": ["a@example.com", "b@example.com"], "phone_number": ["111", "111"]},
        ),
        "Support (alice) edited #12: email a@example.com → b@example.com.",
    ),
    (
        event(
            EventKind.EDITED,
            source=Source.ADMIN,
            details={"email": ["a@example.com", "a@example.com"], "phone_number": ["111", None]},
        ),
        "Support edited #12: phone 111 → none.",
    ),
    (
        event(
            EventKind.DELETED,
            source=Source.ADMIN,
            user=support(),
            details={"email": ["a@example.com", "a@example.com"], "phone_number": [None, None]},
        ),
        "Support (alice) soft-deleted #12.",
    ),
    (
        event(EventKind.RESTORED, source=Source.ADMIN, user=support(), details={}),
        "Support (alice) restored #12.",
    ),
    (
        event(
            EventKind.CANONICALIZED,
            source=Source.COMMAND,
            details={"email": ["A@example.com", "a@example.com"], "phone_number": [None, None]},
        ),
        "A management command rewrote in canonical form the identifiers of #12: "
        "email A@example.com → a@example.com.",
    ),
    (
        event(EventKind.ERASED, source=Source.ADMIN, user=support(), details={"reason": "asked"}),
        "Support (alice) erased #12 from identity #7. Reason: asked.",
    ),
    (
        event(
            EventKind.HELD,
            contact_id=7,
            details={"held_merge": 3, "hold": "merge", "other_primaries": [12]},
        ),
        "A request would have made a merge of identity #7 with #12, past its size limit: "
        "held merge #3 waits for a person.",
    ),
    (
        event(EventKind.HELD, contact_id=7, details={"held_merge": 4, "hold": "growth"}),
        "A request would have made a new contact in identity #7, past its size limit: "
        "held merge #4 waits for a person.",
    ),
    (
        event(
            EventKind.DECIDED,
            source=Source.ADMIN,
            user=support(),
            contact_id=7,
            details={"held_merge": 3, "decision": "rejected", "never_link": True},
        ),
        "Support (alice) rejected held merge #3 of identity #7, and said never to link that pair.",
    ),
    (
        event(
            EventKind.DECIDED,
            source=Source.COMMAND,
            contact_id=7,
            details={"held_merge": 3, "decision": "approved", "never_link": False},
        ),
        "A management command approved held merge #3 of identity #7.",
    ),
]


@pytest.mark.parametrize(("row", "sentence"), SENTENCES, ids=[row.kind for row, _ in SENTENCES])
def test_each_event_kind_reads_as_a_sentence(row, sentence):
    assert told(row) == sentence


def test_every_event_kind_has_a_sentence():
    assert {row.kind for row, _ in SENTENCES} == set(EventKind.values)


def test_an_erased_contacts_values_read_erased():
    created = event(
        EventKind.SECONDARY_ADDED, details={"request": {"email": None, "phone_number": None}}
    )
    edited = event(
        EventKind.EDITED,
        source=Source.ADMIN,
        details={"email": [None, None], "phone_number": ["111", "111"]},
    )
    merged = event(
        EventKind.MERGED,
        details={
            "winner": 7,
            "loser": 12,
            "request": {"email": None, "phone_number": "111"},
            "bridged_by": ["email"],
        },
    )

    partly = event(
        EventKind.SECONDARY_ADDED, details={"request": {"email": None, "phone_number": "222"}}
    )

    assert told(created, erased=True) == (
        "An order whose identifiers were erased added #12 to identity #7 as a secondary."
    )
    assert told(partly, erased=True) == (
        "An order with phone 222 (any other identifier erased) added #12 to identity #7 as a "
        "secondary."
    )
    assert told(edited, erased=True) == "Support edited #12: email [erased] → [erased]."
    # A merge's request had both values: the one missing was erased, whoever the contact.
    assert told(merged).startswith("An order with email [erased] and phone 111 made #12")


def test_an_erased_contact_is_not_linked_but_others_are():
    erased = event_sentence(event(EventKind.ERASED, details={}), erased=True)

    assert "#12" in erased
    assert reverse("admin:contacts_contact_change", args=[12]) not in erased
    assert f'<a href="{reverse("admin:contacts_contact_change", args=[7])}">#7</a>' in erased


def test_values_are_escaped():
    row = event(
        EventKind.PRIMARY_CREATED,
        details={"request": {"email": "<b>x</b>@example.com", "phone_number": None}},
    )

    assert "&lt;b&gt;x&lt;/b&gt;@example.com" in event_sentence(row)


def test_a_timestamp_has_seconds_and_the_zone_in_a_time_element():
    assert timestamp(WHEN) == (
        '<time datetime="2026-11-30T18:39:07+00:00">2026-11-30 18:39:07 UTC</time>'
    )


@override_settings(TIME_ZONE="Europe/Paris")
def test_a_timestamp_is_in_the_sites_time_zone():
    assert timestamp(WHEN) == (
        '<time datetime="2026-11-30T19:39:07+01:00">2026-11-30 19:39:07 CET</time>'
    )


def test_history_entries_know_the_erased_contacts_from_the_history_itself():
    rows = [
        event(EventKind.ERASED, details={}),
        event(
            EventKind.SECONDARY_ADDED, details={"request": {"email": None, "phone_number": None}}
        ),
        event(
            EventKind.SECONDARY_ADDED,
            contact_id=13,
            details={"request": {"email": None, "phone_number": "222"}},
        ),
    ]

    entries = history_entries(events=rows)

    assert [html.unescape(strip_tags(entry.sentence)) for entry in entries][1:] == [
        "An order whose identifiers were erased added #12 to identity #7 as a secondary.",
        "An order with phone 222 added #13 to identity #7 as a secondary.",
    ]
    assert "18:39:07 UTC" in entries[0].when


# --- The pages --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_cluster_page_and_the_history_admin_tell_the_history(admin_client, admin_user):
    lorraine = contact_identify(email="lorraine@example.com", phone_number="111").primary_id
    george = contact_identify(email="george@example.com", phone_number="222").primary_id
    contact_identify(email="lorraine@example.com", phone_number="222")
    doc = contact_identify(email="doc@example.com", phone_number="333").primary_id
    contact_edit(contact_id=doc, email="doc@example.com", phone_number="444", user=admin_user)
    contact_identify(email="doc@example.com", phone_number="111")
    person_erase(
        subject=ErasureSubject(scope=ErasureScope.IDENTIFIER, contact_id=doc),
        reason="asked",
        requester=Requester(source=Source.ADMIN, name="admin", user=admin_user),
    )

    page = admin_client.get(reverse("admin:contacts_cluster_change", args=[lorraine]))
    history = admin_client.get(reverse("admin:contacts_clusterevent_changelist"))

    for response in (page, history):
        text = html.unescape(strip_tags(response.content.decode()))
        assert (
            f"An order with email lorraine@example.com and phone 222 made #{george} a secondary "
            f"of #{lorraine}, merging their identities (its identity held the phone of the order)."
        ) in text
        assert f"An order with email [erased] and phone 111 made #{doc} a secondary" in text
        assert "'phone_number'" not in text
        assert "doc@example.com" not in text
        assert "444" not in text
        assert " UTC" in text
    history_text = html.unescape(strip_tags(history.content.decode()))
    assert f"created #{doc}, a new identity." in history_text
    assert f"Support (admin) edited #{doc}: email [erased] → [erased]" in history_text
    assert '<time datetime="' in page.content.decode()
    event_id = ClusterEvent.objects.filter(kind=EventKind.MERGED).values_list("id", flat=True)[0]
    detail = admin_client.get(reverse("admin:contacts_clusterevent_change", args=[event_id]))
    assert f"made #{george} a secondary" in html.unescape(strip_tags(detail.content.decode()))
