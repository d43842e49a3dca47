"""Random request sequences against a reference model: union-find over identifiers (SPEC §3).

The model knows nothing of locks, rows or rules 1-4: a request joins its identifiers, creates a
contact when it brings one the model has not seen, and the identity is the component, led by its
first contact. Every answer of the service must equal the model's, field by field. Each request
spells its identifiers one of the ways a person may type them (docs/api.md "Identifiers"); the
model knows only the canonical form. A second model adds governance (docs/governance.md): blocked
values and a size limit; a third, erasures and suppression (docs/privacy.md).
"""

import io
import unicodedata
from dataclasses import dataclass, field

import idna
import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacts.graph import UnionFind
from contacts.models import (
    ClusterEvent,
    Contact,
    Erasure,
    ErasureScope,
    EventSequencer,
    HeldMerge,
    IdentityLink,
    IdentityStream,
    OutboxEvent,
    Source,
)
from contacts.selectors.governance import policy_forget
from contacts.selectors.privacy import ErasureSubject
from contacts.services.erasure import Requester, person_erase
from contacts.tests.graph_model import (
    as_partition,
    assert_invariants,
    identities_from_events,
    stored_clusters,
    stored_identities,
)

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

    def nodes_of(self, contact: ModelContact) -> list[tuple[str, str]]:
        """The contact's nodes in the graph."""
        return contact.nodes

    def answer(self, node: tuple[str, str]) -> dict:
        root = self.graph.find(node)
        members = [c for c in self.contacts if self.graph.find(self.nodes_of(c)[0]) == root]
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
    OutboxEvent.objects.all().delete()
    IdentityStream.objects.all().delete()
    EventSequencer.objects.all().delete()
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
    assert identities_from_events() == stored_identities()
    assert_invariants()


# Values the shipped blocklist blocks (docs/governance.md), mixed with ordinary ones.
GOVERNED_EMAILS = ["user0@example.com", "user1@example.com", "user2@example.com", "test@test.com"]
GOVERNED_PHONES = ["1000", "2000", "3000", "9999999"]
BLOCKED = {("email", "test@test.com"), ("phone", "9999999")}
SIZE_LIMIT = 3


@dataclass
class GovernedModel(IdentityModel):
    """The union-find model with governance: blocked values are not nodes, and a write that would
    grow a component past ``SIZE_LIMIT`` contacts changes nothing (one held pair per request)."""

    held: set[tuple[str, str]] = field(default_factory=set)

    def size(self, root: tuple[str, str]) -> int:
        return sum(1 for c in self.contacts if self.graph.find(self.nodes_of(c)[0]) == root)

    def nodes_of(self, contact: ModelContact) -> list[tuple[str, str]]:
        return [node for node in contact.nodes if node not in BLOCKED]

    def oldest_root(self, nodes: list[tuple[str, str]]) -> tuple[str, str]:
        known = {node for contact in self.contacts for node in self.nodes_of(contact)}
        roots = {self.graph.find(node) for node in nodes if node in known}
        first_contact = {
            root: min(c.id for c in self.contacts if self.graph.find(self.nodes_of(c)[0]) == root)
            for root in roots
        }
        return min(roots, key=first_contact.__getitem__)

    def holds(self, nodes: list[tuple[str, str]], creates: bool) -> bool:
        known = {node for contact in self.contacts for node in self.nodes_of(contact)}
        roots = {self.graph.find(node) for node in nodes if node in known}
        if not roots or (len(roots) == 1 and not creates):
            return False
        return sum(self.size(root) for root in roots) + creates > SIZE_LIMIT


governed_requests = st.lists(
    st.tuples(
        st.sampled_from([None, *GOVERNED_EMAILS]),
        st.sampled_from([None, *GOVERNED_PHONES]),
    ).filter(lambda request: request[0] is not None or request[1] is not None),
    min_size=1,
    max_size=30,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=governed_requests)
def test_service_answers_like_the_model_with_blocked_values_and_a_size_limit(
    api_client, sequence, settings
):
    settings.IDENTITY_MAX_CLUSTER_SIZE = SIZE_LIMIT
    reset_tables()
    HeldMerge.objects.all().delete()
    model = GovernedModel()

    for email, phone in sequence:
        nodes = [
            node for node in (("email", email), ("phone", phone)) if node[1] and node not in BLOCKED
        ]
        body = {key: value for key, value in (("email", email), ("phoneNumber", phone)) if value}
        response = api_client.post("/identify/", body, format="json")
        if not nodes:
            assert response.status_code == 422
            assert response.json()["code"] == "blocked_identifier"
            continue
        assert response.status_code == 200, response.content
        creates = model.brings_new_identifier(nodes)
        if model.holds(nodes, creates):
            model.held.add((email, phone))
            expected = model.answer(model.oldest_root(nodes))
        elif creates:
            newest = Contact.objects.latest("id")
            assert (newest.email, newest.phone_number) == (email, phone)
            model.contacts.append(ModelContact(id=newest.id, email=email, phone=phone))
            model.graph.union(*nodes)
            expected = model.answer(nodes[0])
        else:
            model.join(nodes)
            expected = model.answer(nodes[0])

        assert Contact.objects.count() == len(model.contacts)
        assert response.json()["contact"] == expected

    assert set(HeldMerge.objects.values_list("email", "phone_number")) == model.held
    governed = [{node for node in group if node not in BLOCKED} for group in stored_clusters()]
    assert as_partition([group for group in governed if group]) == as_partition(
        model.graph.groups()
    )
    assert identities_from_events() == stored_identities()
    assert_invariants()
    call_command("reconcile", "--check", "--no-progress", stdout=io.StringIO())


@dataclass
class ErasingModel(IdentityModel):
    """The union-find model with erasures (docs/privacy.md): its edges are the contacts and the
    link records (a request that joined two components without creating a contact); an erasure
    removes the contacts carrying its values and the link records holding one, and the graph is
    what is left. A suppressed value is refused from then on."""

    links: list[tuple[str, str]] = field(default_factory=list)
    suppressed: set[tuple[str, str]] = field(default_factory=set)

    def link(self, nodes: list[tuple[str, str]]) -> None:
        roots = {self.graph.find(node) for node in nodes}
        if len(nodes) == 2 and len(roots) == 2:
            email, phone = (value for _, value in nodes)
            self.links.append((email, phone))
        self.join(nodes)

    def identity_values(self, node: tuple[str, str]) -> set[tuple[str, str]]:
        known = {n for contact in self.contacts for n in contact.nodes}
        if node not in known:
            return {node}
        root = self.graph.find(node)
        return {n for contact in self.contacts for n in contact.nodes if self.graph.find(n) == root}

    def erase(self, values: set[tuple[str, str]], *, suppress: bool) -> None:
        self.contacts = [c for c in self.contacts if not set(c.nodes) & values]
        self.links = [
            (email, phone)
            for email, phone in self.links
            if not {("email", email), ("phone", phone)} & values
        ]
        self.graph = UnionFind()
        for contact in self.contacts:
            self.graph.union(*contact.nodes)
        for email, phone in self.links:
            self.graph.union(("email", email), ("phone", phone))
        if suppress:
            self.suppressed |= values


erasing_steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("identify"),
            st.sampled_from([None, *EMAILS[:3]]),
            st.sampled_from([None, *PHONES[:4]]),
        ).filter(lambda step: step[1] is not None or step[2] is not None),
        st.tuples(
            st.sampled_from(["erase identifier", "erase identity"]),
            st.sampled_from(
                [*(("email", e) for e in EMAILS[:3]), *(("phone", p) for p in PHONES[:4])]
            ),
            st.booleans(),
        ),
    ),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=erasing_steps)
def test_erasures_leave_the_clusters_of_the_model_without_the_erased(api_client, steps):
    reset_tables()
    Erasure.objects.all().delete()
    policy_forget()
    model = ErasingModel()

    for kind, first, second in steps:
        if kind == "identify":
            nodes = [node for node in (("email", first), ("phone", second)) if node[1]]
            body = {
                key: value for key, value in (("email", first), ("phoneNumber", second)) if value
            }
            response = api_client.post("/identify/", body, format="json")
            if set(nodes) & model.suppressed:
                assert response.status_code == 422
                assert response.json()["code"] == "suppressed"
                continue
            assert response.status_code == 200, response.content
            if model.brings_new_identifier(nodes):
                newest = Contact.objects.latest("id")
                model.record(ModelContact(id=newest.id, email=first, phone=second))
            else:
                model.link(nodes)
            assert response.json()["contact"] == model.answer(nodes[0])
            continue
        node_kind, value = first
        scope = ErasureScope.IDENTITY if kind == "erase identity" else ErasureScope.IDENTIFIER
        values = model.identity_values(first) if scope == ErasureScope.IDENTITY else {first}
        person_erase(
            subject=ErasureSubject(
                scope=scope,
                email=value if node_kind == "email" else None,
                phone_number=value if node_kind == "phone" else None,
            ),
            reason="property",
            requester=Requester(source=Source.COMMAND, name="test"),
            suppress=second,
        )
        model.erase(values, suppress=second)
        assert sorted(Contact.objects.values_list("id", flat=True)) == sorted(
            contact.id for contact in model.contacts
        )

    assert as_partition(stored_clusters()) == as_partition(model.graph.groups())
    assert identities_from_events() == stored_identities()
    assert_invariants()
    call_command("reconcile", "--check", "--no-progress", stdout=io.StringIO())
