"""Erasure in the admin (docs/privacy.md): the "Erase…" action, link and page of contacts and
clusters, who may use them, what confirming does, and the erasures' read-only records.

The identity is made as in production, through ``/identify/``, so that its history and link
records hold the values an erasure must remove. Every page and message is searched for those
values: none may appear.
"""

from dataclasses import dataclass

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from contacts.models import (
    Contact,
    ErasedIdentifier,
    Erasure,
    ErasureScope,
    IdentityLink,
    Source,
)
from contacts.roles import CORRECTIONS, PRIVACY, SUPPORT_ROLES
from contacts.tests.graph_model import assert_invariants

pytestmark = pytest.mark.django_db

CONTACTS = reverse("admin:contacts_contact_changelist")
CLUSTERS = reverse("admin:contacts_cluster_changelist")
ERASE_CONTACTS = reverse("admin:contacts_contact_erase_selected")
ERASE_CLUSTERS = reverse("admin:contacts_cluster_erase_selected")
ERASURES = reverse("admin:contacts_erasure_changelist")

# Every value the identity below holds: none may show on an erasure's pages or messages.
VALUES = [
    "zed@hillvalley.edu",
    "xena@hillvalley.edu",
    "will@hillvalley.edu",
    "mary@hillvalley.edu",
    "5550101",
    "5550105",
    "5550106",
    "5550199",
]


@dataclass(frozen=True)
class Chain:
    """One identity of six contacts, each joined to the next by one value, the last two by a
    link record: zed —5550101— y1 —xena— bridge —5550105— y2 —will— will —(link)— mary.

    The bridge's identifiers are carried by y1 and y2 too: erasing them takes those three, and
    what is left splits in two (zed alone; will and mary, joined by the link record)."""

    zed: int
    y1: int
    bridge: int
    y2: int
    will: int
    mary: int

    @property
    def all(self) -> list[int]:
        return [self.zed, self.y1, self.bridge, self.y2, self.will, self.mary]


@pytest.fixture
def chain(identify) -> Chain:
    zed = identify(email="zed@hillvalley.edu", phone="5550101")["primaryContactId"]
    y1, bridge, y2, will = (
        identify(email=email, phone=phone)["secondaryContactIds"][-1]
        for email, phone in [
            ("xena@hillvalley.edu", "5550101"),
            ("xena@hillvalley.edu", "5550105"),
            ("will@hillvalley.edu", "5550105"),
            ("will@hillvalley.edu", "5550106"),
        ]
    )
    mary = identify(email="mary@hillvalley.edu", phone="5550199")["primaryContactId"]
    # Will's email with Mary's phone: the request bridges the two identities.
    identify(email="will@hillvalley.edu", phone="5550199")
    assert IdentityLink.objects.count() == 1
    assert Contact.live.filter(linked_id=zed).count() == 5
    return Chain(zed=zed, y1=y1, bridge=bridge, y2=y2, will=will, mary=mary)


@pytest.fixture
def privacy(staff_client) -> Client:
    return staff_client(PRIVACY)


def erase_url(contact_id: int, *, model: str = "contact") -> str:
    return reverse(f"admin:contacts_{model}_erase", args=[contact_id])


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def assert_no_value(text: str) -> None:
    assert [value for value in VALUES if value in text] == []


def primary_of(contact_id: int) -> int:
    contact = Contact.objects.get(pk=contact_id)
    return contact.linked_id or contact.id


def preview_of(response, *, scope: ErasureScope, contact_id: int):
    [candidate] = [c for c in response.context["candidates"] if c.contact_id == contact_id]
    [row] = [row for row in candidate.rows if row.scope == scope]
    return row.preview


def erase(client: Client, url: str, **fields: object):
    return client.post(url, {"scope": ErasureScope.IDENTITY, "reason": "GDPR art. 17", **fields})


class TestWhoMayErase:
    def test_the_corrections_role_is_offered_nothing_and_refused(self, staff_client, chain):
        client = staff_client(CORRECTIONS)
        pages = [
            client.get(reverse("admin:contacts_contact_change", args=[chain.bridge])),
            client.get(reverse("admin:contacts_cluster_change", args=[chain.zed])),
        ]
        lists = [client.get(CONTACTS), client.get(CLUSTERS)]

        refused = [
            client.get(erase_url(chain.bridge)),
            erase(client, erase_url(chain.bridge)),
            client.get(ERASE_CONTACTS, {"ids": chain.bridge}),
            erase(client, ERASE_CONTACTS, ids=[chain.bridge]),
            erase(client, erase_url(chain.zed, model="cluster")),
            erase(client, ERASE_CLUSTERS, ids=[chain.zed]),
            client.get(ERASURES),
        ]
        action = client.post(
            CONTACTS, {"action": "erase_selected", "_selected_action": [chain.bridge]}
        )

        for page in pages:
            assert page.status_code == 200
            assert "/erase/" not in page.content.decode()
        for listed in lists:
            assert "erase_selected" not in dict(
                listed.context["action_form"].fields["action"].choices
            )
        assert [response.status_code for response in refused] == [403] * len(refused)
        # An action the role lacks is not offered: posting it sends back to the list.
        assert (action.status_code, action.url) == (302, CONTACTS)
        assert Contact.objects.count() == 6
        assert not Erasure.objects.exists()

    def test_the_privacy_role_is_offered_the_action_the_links_and_the_page(self, privacy, chain):
        contact_page = privacy.get(reverse("admin:contacts_contact_change", args=[chain.bridge]))
        cluster_page = privacy.get(reverse("admin:contacts_cluster_change", args=[chain.zed]))

        assert erase_url(chain.bridge) in contact_page.content.decode()
        assert erase_url(chain.zed, model="cluster") in cluster_page.content.decode()
        for changelist in (CONTACTS, CLUSTERS):
            choices = dict(privacy.get(changelist).context["action_form"].fields["action"].choices)
            assert choices["erase_selected"].startswith("Erase selected")
        assert privacy.get(erase_url(chain.bridge)).status_code == 200
        assert privacy.get(ERASURES).status_code == 200

    def test_the_action_leads_to_the_page_of_the_selected_contacts(self, privacy, chain):
        response = privacy.post(
            CONTACTS, {"action": "erase_selected", "_selected_action": [chain.y1, chain.mary]}
        )

        assert response.status_code == 302
        assert response.url == f"{ERASE_CONTACTS}?ids={chain.mary}&ids={chain.y1}"
        assert Contact.objects.count() == 6

    def test_the_role_erases_and_nothing_more(self):
        assert "erase_person" in SUPPORT_ROLES[PRIVACY]
        assert not any(
            "erase_person" in SUPPORT_ROLES[role] for role in SUPPORT_ROLES if role != PRIVACY
        )


class TestThePage:
    def test_it_previews_both_scopes_by_ids_and_writes_nothing(self, privacy, chain):
        response = privacy.get(erase_url(chain.bridge))

        assert response.status_code == 200
        identity = preview_of(response, scope=ErasureScope.IDENTITY, contact_id=chain.bridge)
        assert identity.contact_ids == sorted(chain.all)
        assert identity.primary_ids_before == [chain.zed]
        assert identity.primary_ids_after == []
        assert identity.counts["link_records"] == 1
        identifiers = preview_of(response, scope=ErasureScope.IDENTIFIER, contact_id=chain.bridge)
        assert identifiers.contact_ids == [chain.y1, chain.bridge, chain.y2]
        assert identifiers.primary_ids_after == [chain.zed, chain.will]
        html = response.content.decode()
        assert f"#{chain.zed}, #{chain.will}" in html
        assert 'name="reason"' in html
        assert 'name="suppress"' in html
        assert f'value="{ErasureScope.IDENTIFIER}" required id="id_scope_0" checked' in html
        assert_no_value(html)
        assert Contact.objects.count() == 6
        assert not Erasure.objects.exists()

    def test_a_reason_is_required(self, privacy, chain):
        responses = [
            erase(privacy, erase_url(chain.bridge), reason="  "),
            erase(privacy, erase_url(chain.bridge), reason="x" * 501),
        ]

        for response in responses:
            assert response.status_code == 200
            assert response.context["form"].errors.keys() == {"reason"}
            assert "Please correct the errors below." in response.content.decode()
        assert Contact.objects.count() == 6
        assert not Erasure.objects.exists()

    def test_too_many_contacts_at_once_are_refused(self, privacy, make_contact):
        ids = [make_contact(email=f"{index}@example.com").id for index in range(21)]

        page = privacy.get(ERASE_CONTACTS, {"ids": ids})
        confirm = erase(privacy, ERASE_CONTACTS, ids=ids)

        for response in (page, confirm):
            assert response.status_code == 200
            assert "Erase at most 20" in response.content.decode()
        assert Contact.objects.count() == 21

    def test_an_unknown_contact_is_not_found(self, privacy, chain):
        assert privacy.get(erase_url(10**6)).status_code == 404
        assert privacy.get(erase_url(10**30, model="cluster")).status_code == 404
        page = privacy.get(ERASE_CONTACTS, {"ids": [10**6, 10**30, "x", "²"]})
        assert page.context["candidates"] == []


class TestConfirming:
    def test_the_identity_scope_erases_every_contact_of_the_cluster_as_previewed(
        self, privacy, chain
    ):
        preview = preview_of(
            privacy.get(erase_url(chain.bridge)),
            scope=ErasureScope.IDENTITY,
            contact_id=chain.bridge,
        )

        response = erase(privacy, erase_url(chain.bridge))

        erasure = Erasure.objects.get()
        assert response.status_code == 302
        assert response.url == reverse("admin:contacts_erasure_change", args=[erasure.pk])
        assert not Contact.objects.filter(id__in=chain.all).exists()
        assert not IdentityLink.objects.exists()
        assert erasure.contact_ids == preview.contact_ids
        assert erasure.counts == preview.counts
        assert erasure.primary_ids == preview.primary_ids_after == []
        assert (erasure.scope, erasure.subject_contact_id) == (ErasureScope.IDENTITY, chain.bridge)
        assert (erasure.source, erasure.requested_by) == (Source.ADMIN, f"staff-{PRIVACY}")
        assert (erasure.reason, erasure.suppress) == ("GDPR art. 17", False)
        [message] = messages_of(response)
        assert message.startswith(
            f"Erasure #{erasure.pk} (every contact of the identity): "
            "erased 6 contacts, 1 link record, "
        )
        assert_no_value(message)
        entry = LogEntry.objects.get(action_flag=ADDITION)
        assert entry.content_type == ContentType.objects.get_for_model(Erasure)
        assert (entry.object_id, entry.object_repr) == (str(erasure.pk), str(erasure))
        assert_no_value(entry.change_message)

    def test_the_identifier_scope_on_the_bridge_splits_the_cluster(self, privacy, chain):
        preview = preview_of(
            privacy.get(erase_url(chain.bridge)),
            scope=ErasureScope.IDENTIFIER,
            contact_id=chain.bridge,
        )

        response = erase(privacy, erase_url(chain.bridge), scope=ErasureScope.IDENTIFIER)

        erasure = Erasure.objects.get()
        assert response.status_code == 302
        assert erasure.scope == ErasureScope.IDENTIFIER
        assert sorted(Contact.objects.values_list("id", flat=True)) == [
            chain.zed,
            chain.will,
            chain.mary,
        ]
        assert (primary_of(chain.zed), primary_of(chain.will), primary_of(chain.mary)) == (
            chain.zed,
            chain.will,
            chain.will,
        )
        assert erasure.primary_ids == preview.primary_ids_after == [chain.zed, chain.will]
        assert erasure.counts == preview.counts
        assert_invariants()
        [message] = messages_of(response)
        assert f"Identities left: #{chain.zed}, #{chain.will}." in message
        assert_no_value(message)

    def test_suppression_is_stored(self, privacy, chain):
        erase(privacy, erase_url(chain.bridge), scope=ErasureScope.IDENTIFIER, suppress="on")

        erasure = Erasure.objects.get()
        assert erasure.suppress is True
        assert erasure.identifiers.count() == 2
        assert all(erasure.identifiers.values_list("suppress", flat=True))

    def test_a_cluster_is_erased_from_the_clusters_list(self, privacy, chain, make_contact):
        other = make_contact(email="other@example.com")
        action = privacy.post(
            CLUSTERS, {"action": "erase_selected", "_selected_action": [chain.zed]}
        )

        page = privacy.get(action.url)
        response = erase(privacy, ERASE_CLUSTERS, ids=[chain.zed])

        assert action.url == f"{ERASE_CLUSTERS}?ids={chain.zed}"
        assert [c.contact_id for c in page.context["candidates"]] == [chain.zed]
        assert_no_value(page.content.decode())
        assert response.status_code == 302
        assert list(Contact.objects.values_list("id", flat=True)) == [other.id]

    def test_a_batch_skips_contacts_an_earlier_erasure_removed(self, privacy, chain, make_contact):
        other = make_contact(email="other@example.com", phone="5550300")

        response = erase(privacy, ERASE_CONTACTS, ids=[chain.y1, chain.mary, other.id])

        first, second = Erasure.objects.order_by("id")
        assert response.url == f"{ERASURES}?id__in={first.pk},{second.pk}"
        assert (first.subject_contact_id, second.subject_contact_id) == (chain.y1, other.id)
        assert not Contact.objects.exists()
        erased, skipped, alone = messages_of(response)
        assert skipped == f"#{chain.mary}: erased with erasure #{first.pk} already."
        assert alone.startswith(f"Erasure #{second.pk} ")
        for message in (erased, skipped, alone):
            assert_no_value(message)


class TestTheRecords:
    def test_the_record_lists_its_identifiers_as_digests_and_no_value(self, privacy, chain):
        erase(privacy, erase_url(chain.bridge), scope=ErasureScope.IDENTIFIER, suppress="on")
        erasure = Erasure.objects.get()

        page = privacy.get(reverse("admin:contacts_erasure_change", args=[erasure.pk]))
        listed = privacy.get(ERASURES)

        html = page.content.decode()
        assert page.status_code == 200
        for identifier in ErasedIdentifier.objects.filter(erasure=erasure):
            assert identifier.digest in html
        assert "GDPR art. 17" in html
        assert f"#{chain.y1}, #{chain.bridge}, #{chain.y2}" in html
        assert 'name="_save"' not in html
        assert_no_value(html)
        assert [row.pk for row in listed.context["cl"].result_list] == [erasure.pk]
        assert "3 contacts" in listed.content.decode()
        assert_no_value(listed.content.decode())

    def test_records_are_never_added_changed_or_deleted_here(self, admin_client, chain):
        erase(admin_client, erase_url(chain.bridge))
        erasure = Erasure.objects.get()
        change = reverse("admin:contacts_erasure_change", args=[erasure.pk])

        responses = [
            admin_client.get(reverse("admin:contacts_erasure_add")),
            admin_client.post(reverse("admin:contacts_erasure_delete", args=[erasure.pk])),
        ]
        admin_client.post(change, {"reason": "changed"})

        assert [response.status_code for response in responses] == [403, 403]
        erasure.refresh_from_db()
        assert erasure.reason == "GDPR art. 17"

    def test_the_admin_log_keeps_no_erased_value(self, admin_client, chain):
        """An edit made through the admin logs the contact's name (its values) and the change;
        once the identity is erased, neither the log nor the pages that show it hold one."""
        identifiers = reverse("admin:contacts_contact_identifiers", args=[chain.will])
        # Followed: the edit's message names the values until the next page shows it.
        admin_client.post(
            identifiers, {"email": "will@hillvalley.edu", "phone_number": "5550199"}, follow=True
        )
        edited = LogEntry.objects.get(object_id=str(chain.will))
        assert edited.object_repr == f"#{chain.will} will@hillvalley.edu / 5550106"

        erase(admin_client, erase_url(chain.zed, model="cluster"))

        edited.refresh_from_db()
        assert edited.object_repr.startswith(f"#{chain.will} [erased] / ")
        assert edited.change_message.startswith("Changed email [erased] → [erased], phone number")
        for entry in LogEntry.objects.all():
            assert_no_value(entry.object_repr + entry.change_message)
        index = admin_client.get(reverse("admin:index")).content.decode()
        assert [value for value in VALUES if value in index] == []

    def test_the_admin_log_keeps_no_value_an_edit_replaced(self, admin_client, chain):
        admin_client.post(
            reverse("admin:contacts_contact_identifiers", args=[chain.will]),
            {"email": "will@hillvalley.edu", "phone_number": "5550199"},
        )

        erase(admin_client, erase_url(chain.zed, model="cluster"))

        for entry in LogEntry.objects.all():
            assert_no_value(entry.object_repr + entry.change_message)
