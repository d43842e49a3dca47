"""Random request sequences against a reference model: union-find over identifiers (SPEC §3).

The model knows nothing of locks, rows or rules 1-4: a request joins its identifiers, creates a
contact when it brings one the model has not seen, and the identity is the component, led by its
first contact. Every answer of the service must equal the model's, field by field. Each request
spells its identifiers one of the ways a person may type them (docs/api.md "Identifiers"); the
model knows only the canonical form.
"""

import unicodedata
from dataclasses import dataclass, field

import idna
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacts.graph import UnionFind
from contacts.models import ClusterEvent, Contact, IdentityLink
from contacts.tests.graph_model import as_partition, assert_invariants, stored_clusters

pytestmark = pytest.mark.django_db

EMAILS = ["user0@example.com", "user1@example.com", "user2@bücher.example", "user3@café.example"]
PHONES = ["1000", "2000", "3000", "+4551536439", "+4400000"]


def spell_email(email: str, spelling: int) -> str:
    """One of the spellings of ``email`` that must reach its identity."""
    local, domain = email.split("@")
    return [
        email,
        email.upper(),
        f"{local}@{idna.encode(domain).decode()}",
        unicodedata.normalize("NFD", email),
        f"  {email} ",
    ][spelling % 5]


def spell_phone(phone: str, spelling: int) -> str | int:
    """One of the spellings of ``phone``: as an integer, with separators, ``00`` for ``+``."""
    digits = phone.removeprefix("+")
    if spelling % 4 == 1:
        return f"{phone[:3]} {phone[3:]}"
    if spelling % 4 == 2:
        return f"00{digits}" if phone.startswith("+") else f"({digits[:2]}) {digits[2:]}"
    if spelling % 4 == 3 and not phone.startswith("+"):
        return int(phone)
    return phone


@dataclass
class ModelContact:
    id: int
    email: str | None
    phone: str | None

    @property
    def nodes(self) -> list[tuple[str, str]]:
        return [node for node in (("email", self.email), ("phone", self.phone)) if node[1]]


@dataclass
class IdentityModel:
    graph: UnionFind = field(default_factory=UnionFind)
    contacts: list[ModelContact] = field(default_factory=list)

    def brings_new_identifier(self, nodes: list[tuple[str, str]]) -> bool:
        known = {node for contact in self.contacts for node in contact.nodes}
        return any(node not in known for node in nodes)

    def record(self, contact: ModelContact) -> None:
        self.contacts.append(contact)
        self.graph.union(*contact.nodes)

    def join(self, nodes: list[tuple[str, str]]) -> None:
        self.graph.union(*nodes)

    def answer(self, node: tuple[str, str]) -> dict:
        root = self.graph.find(node)
        members = [c for c in self.contacts if self.graph.find(c.nodes[0]) == root]
        primary, *secondaries = members
        emails = dict.fromkeys(c.email for c in [primary, *members] if c.email)
        phones = dict.fromkeys(c.phone for c in [primary, *members] if c.phone)
        return {
            "primaryContatctId": primary.id,
            "primaryContactId": primary.id,
            "emails": list(emails),
            "phoneNumbers": list(phones),
            "secondaryContactIds": sorted(c.id for c in secondaries),
        }


requests = st.lists(
    st.tuples(
        st.sampled_from([None, *EMAILS]),
        st.sampled_from([None, *PHONES]),
        st.integers(min_value=0, max_value=19),
    ).filter(lambda request: request[0] is not None or request[1] is not None),
    min_size=1,
    max_size=30,
)


def reset_tables() -> None:
    ClusterEvent.objects.all().delete()
    Contact.objects.filter(linked__isnull=False).delete()
    Contact.objects.all().delete()
    IdentityLink.objects.all().delete()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=requests)
def test_service_answers_like_the_union_find_model(identify, sequence):
    reset_tables()
    model = IdentityModel()

    for email, phone, spelling in sequence:
        nodes = [node for node in (("email", email), ("phone", phone)) if node[1]]
        creates = model.brings_new_identifier(nodes)
        answer = identify(
            email=email and spell_email(email, spelling),
            phone=phone and spell_phone(phone, spelling),
        )
        if creates:
            newest = Contact.objects.latest("id")
            assert (newest.email, newest.phone_number) == (email, phone)
            model.record(ModelContact(id=newest.id, email=email, phone=phone))
        else:
            model.join(nodes)

        assert Contact.objects.count() == len(model.contacts)
        assert answer == model.answer(nodes[0])

    assert as_partition(stored_clusters()) == as_partition(model.graph.groups())
    assert_invariants()
