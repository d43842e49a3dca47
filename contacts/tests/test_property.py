"""Random request sequences against a reference model: union-find over identifiers (SPEC §3).

The model knows nothing of locks, rows or rules 1-4: a request joins its identifiers, creates a
contact when it brings one the model has not seen, and the identity is the component, led by its
first contact. Every answer of the service must equal the model's, field by field.
"""

from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacts.graph import UnionFind
from contacts.models import ClusterEvent, Contact, IdentityLink
from contacts.tests.graph_model import as_partition, assert_invariants, stored_clusters

pytestmark = pytest.mark.django_db

EMAILS = [f"user{i}@example.com" for i in range(5)]
PHONES = ["1000", "2000", "3000", "4000", "5000"]


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
        st.booleans(),
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

    for email, phone, phone_as_integer in sequence:
        nodes = [node for node in (("email", email), ("phone", phone)) if node[1]]
        creates = model.brings_new_identifier(nodes)
        answer = identify(email=email, phone=int(phone) if phone and phone_as_integer else phone)
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
