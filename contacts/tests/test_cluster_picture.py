"""The picture of a cluster's identity graph (``contacts/admin/graph_picture.py``): its layout as
pure data, and the cluster page that draws it as an inline SVG."""

import itertools
import re
from dataclasses import dataclass

import pytest
from django.urls import reverse

from contacts.admin.graph_picture import (
    LABEL_CHARS,
    MAX_CONTACTS,
    GraphPicture,
    GraphSummary,
    cluster_picture,
)
from contacts.models import IdentifierKind, IdentityLink, MatchType
from contacts.services.corrections import contacts_soft_delete
from contacts.services.governance import identifier_block
from contacts.services.identify import contact_identify


@dataclass(frozen=True)
class Row:
    id: int
    email: str | None
    phone_number: str | None


@dataclass(frozen=True)
class Link:
    email: str
    phone_number: str
    blocked: bool = False


def nothing_blocked(kind: str, value: str) -> bool:
    return False


def picture(contacts: list[Row], links: list[Link] = (), **kwargs) -> GraphPicture:
    drawn = cluster_picture(
        contacts=contacts,
        links=links,
        primary_id=kwargs.pop("primary_id", contacts[0].id),
        blocks=kwargs.pop("blocks", nothing_blocked),
    )
    assert isinstance(drawn, GraphPicture)
    return drawn


def chain(count: int) -> list[Row]:
    """``count`` contacts, each sharing one identifier with the one before: ``count + 1``
    identifiers, alternately emails and phone numbers."""
    rows = []
    for index in range(count):
        email = f"person{(index + 1) // 2}@example.com"
        phone = f"55500{index // 2:03d}"
        rows.append(Row(id=index + 1, email=email, phone_number=phone))
    return rows


CLUSTER = [
    Row(id=7, email="lorraine@example.com", phone_number="111"),
    Row(id=12, email="george@example.com", phone_number="111"),
    Row(id=13, email="george@example.com", phone_number=None),
    Row(id=14, email=None, phone_number="222"),
    Row(id=15, email="george@example.com", phone_number="111"),
]
LINKS = [Link(email="lorraine@example.com", phone_number="222")]


def test_every_identifier_is_a_node_and_every_contact_an_edge():
    drawn = picture(CLUSTER, LINKS)

    assert sorted((node.kind, node.value) for node in drawn.nodes) == [
        ("email", "george@example.com"),
        ("email", "lorraine@example.com"),
        ("phone", "111"),
        ("phone", "222"),
    ]
    contact_edges = [edge for edge in drawn.edges if not edge.link]
    assert sorted(edge.contact_id for edge in contact_edges) == [7, 12, 13, 14, 15]
    [link] = [edge for edge in drawn.edges if edge.link]
    assert link.nodes == (("email", "lorraine@example.com"), ("phone", "222"))


def test_a_contact_with_one_identifier_is_a_loop_on_its_node():
    drawn = picture(CLUSTER, LINKS)
    edges = {edge.contact_id: edge for edge in drawn.edges}
    george = next(node for node in drawn.nodes if node.value == "george@example.com")
    phone = next(node for node in drawn.nodes if node.value == "222")

    assert edges[13].nodes == (("email", "george@example.com"),)
    assert edges[13].path.startswith(f"M {george.x} {george.y} C ")
    assert edges[13].path.endswith(f"{george.x} {george.y}")
    assert edges[14].path.startswith(f"M {phone.x} {phone.y} C ")


def test_parallel_edges_do_not_hide_one_another():
    """Contacts 12 and 15 carry the same pair: two distinct curves."""
    edges = {edge.contact_id: edge for edge in picture(CLUSTER).edges}

    assert edges[12].path != edges[15].path


def test_the_primary_is_marked():
    drawn = picture(CLUSTER, LINKS)

    assert [edge.contact_id for edge in drawn.edges if edge.primary] == [7]
    assert drawn.edges[-1].primary, "the primary's edge is drawn last, on top"
    assert {node.value for node in drawn.nodes if node.primary} == {"lorraine@example.com", "111"}
    assert drawn.primary_id == 7


def test_blocked_values_and_link_records_are_marked_as_linking_nothing():
    def blocks(kind: str, value: str) -> bool:
        return (kind, value) == ("phone", "111")

    drawn = picture(
        CLUSTER, [*LINKS, Link("george@example.com", "222", blocked=True)], blocks=blocks
    )

    assert [node.value for node in drawn.nodes if node.blocked] == ["111"]
    blocked = sorted((edge.contact_id or 0) for edge in drawn.edges if edge.blocked)
    assert blocked == [0, 7, 12, 15]


def test_the_layout_is_deterministic():
    contacts = chain(25)

    assert picture(contacts) == picture(list(contacts))


def test_edges_between_the_columns_are_mostly_short():
    """The barycentre ordering keeps a chain's neighbours on nearby rows."""
    drawn = picture(chain(20))
    place = {(node.kind, node.value): node.y for node in drawn.nodes}
    spans = [
        abs(place[edge.nodes[0]] - place[edge.nodes[1]])
        for edge in drawn.edges
        if len(edge.nodes) == 2
    ]

    assert max(spans) <= 2 * 24


def label_box(node) -> tuple[float, float, float, float]:
    """A generous box of a label: 8 units a character at font size 13, 14 units high."""
    width = len(node.label) * 8
    left = node.label_x - width if node.anchor == "end" else node.label_x
    return left, node.y - 10, left + width, node.y + 4


def overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_no_two_labels_overlap_for_thirty_identifiers():
    long_ones = [Row(id=100, email="a-very-long-address-of-somebody@example.com", phone_number="1")]
    drawn = picture([*chain(29), *long_ones])
    assert len(drawn.nodes) >= 30

    for a, b in itertools.combinations(drawn.nodes, 2):
        assert not overlap(label_box(a), label_box(b)), (a.value, b.value)
    assert all(len(node.label) <= LABEL_CHARS for node in drawn.nodes)
    assert all(
        label_box(node)[0] >= 0 and label_box(node)[2] <= drawn.width for node in drawn.nodes
    )
    assert all(0 <= node.y <= drawn.height for node in drawn.nodes)


def test_a_cluster_too_large_to_draw_is_summarized_with_the_reason():
    contacts = [Row(id=i, email=f"p{i}@example.com", phone_number="5550100") for i in range(41)]

    summary = cluster_picture(
        contacts=contacts, links=[], primary_id=0, blocks=lambda kind, value: value == "5550100"
    )

    assert isinstance(summary, GraphSummary)
    assert summary.contacts == MAX_CONTACTS + 1
    assert (summary.emails, summary.phone_numbers) == (41, 1)
    assert "41 live contacts" in summary.reason
    assert "40 contacts" in summary.reason
    top = summary.most_connected[0]
    assert (top.kind, top.value, top.contacts, top.blocked) == ("phone", "5550100", 41, True)
    assert len(summary.most_connected) == 10


def test_sixty_one_identifiers_are_summarized_too():
    contacts = [Row(id=i, email=f"p{i}@example.com", phone_number=f"555{i:04d}") for i in range(31)]

    assert isinstance(
        cluster_picture(contacts=contacts, links=[], primary_id=0, blocks=nothing_blocked),
        GraphSummary,
    )
    assert isinstance(
        cluster_picture(contacts=contacts[:30], links=[], primary_id=0, blocks=nothing_blocked),
        GraphPicture,
    )


# --- The cluster page ------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_cluster_page_draws_its_graph_as_an_inline_svg(admin_client):
    lorraine = contact_identify(email="lorraine@example.com", phone_number="111").primary_id
    contact_identify(email="george@example.com", phone_number="222")
    merged = contact_identify(email="lorraine@example.com", phone_number="222")
    assert merged.primary_id == lorraine
    alone = contact_identify(email="biff@example.com", phone_number="111").secondary_ids[-1]
    contacts_soft_delete(contact_ids=[alone])
    identifier_block(kind=IdentifierKind.PHONE, match=MatchType.EXACT, value="999", reason="test")
    assert IdentityLink.objects.filter(email="lorraine@example.com", phone_number="222").exists()

    response = admin_client.get(reverse("admin:contacts_cluster_change", args=[lorraine]))

    assert response.status_code == 200
    html = response.content.decode()
    svg = re.search(r'<svg class="cluster-graph".*?</svg>', html, re.DOTALL).group()
    for value in ("lorraine@example.com", "george@example.com", "111", "222"):
        assert f">{value}</text>" in svg
    assert "biff@example.com" not in svg, "a soft-deleted contact is no edge"
    assert f'href="#contact-{lorraine}"' in svg
    assert 'href="#cluster-links"' in svg
    assert 'stroke-dasharray="6 4"' in svg
    assert "style=" not in svg, "the Content-Security-Policy refuses inline styles"
    assert "<script>" not in html
    assert "contacts/admin/identity_pages.css" in html


@pytest.mark.django_db
def test_a_cluster_too_large_is_summarized_on_its_page(admin_client, make_contact):
    primary = make_contact(email="p0@example.com", phone="5550100")
    for index in range(1, MAX_CONTACTS + 1):
        make_contact(email=f"p{index}@example.com", phone="5550100", linked=primary)

    response = admin_client.get(reverse("admin:contacts_cluster_change", args=[primary.id]))

    html = response.content.decode()
    assert 'id="cluster-graph-summary"' in html
    assert "41 live contacts" in html
    assert '<svg class="cluster-graph"' not in html
