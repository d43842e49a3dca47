"""The data-quality reads (docs/governance.md): identities by size, and the identifiers the most
contacts share, in ``manage.py identifier_report`` and on the admin's data-quality page."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from contacts.roles import READ_ONLY

pytestmark = pytest.mark.django_db


def report(*args: str) -> str:
    out = StringIO()
    call_command("identifier_report", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def placeholder_supercluster(make_contact):
    """Twelve customers who all typed the shop's support number, two who share a real email, and
    one alone; plus a soft-deleted contact, which counts nowhere."""
    primary = make_contact(email="c0@example.com", phone="5550100")
    for index in range(1, 12):
        make_contact(email=f"c{index}@example.com", phone="5550100", linked=primary)
    couple = make_contact(email="pat@example.com", phone="111")
    make_contact(email="pat@example.com", phone="222", linked=couple)
    make_contact(email="alone@example.com")
    make_contact(email="gone@example.com", phone="5550100", linked=primary, deleted=True)


def test_identities_are_counted_by_size(placeholder_supercluster):
    sizes = {
        (bucket["smallest"], bucket["largest"]): (bucket["clusters"], bucket["contacts"])
        for bucket in json.loads(report("--json"))["cluster_sizes"]
    }

    assert sizes[1, 1] == (1, 1)
    assert sizes[2, 2] == (1, 2)
    assert sizes[11, 20] == (1, 12)
    assert sum(clusters for clusters, _ in sizes.values()) == 3
    assert sizes[1001, None] == (0, 0)


def test_the_most_shared_identifiers_come_first(placeholder_supercluster):
    shared = json.loads(report("--json", "--top", "5"))["most_shared"]

    assert shared["phone"] == [{"value": "5550100", "contacts": 12, "blocked": False}]
    assert shared["email"] == [{"value": "pat@example.com", "contacts": 2, "blocked": False}]


def test_top_bounds_each_list(make_contact):
    for value in ("a", "b", "c"):
        first = make_contact(email=f"{value}@example.com", phone=f"1{value.encode().hex()}")
        make_contact(email=f"{value}@example.com", phone=f"2{value.encode().hex()}", linked=first)

    shared = json.loads(report("--json", "--top", "2"))["most_shared"]

    assert [item["value"] for item in shared["email"]] == ["a@example.com", "b@example.com"]


def test_the_text_report_reads_as_a_table(placeholder_supercluster):
    rows = {line.split()[0]: line.split()[1:] for line in report().splitlines() if line.strip()}

    assert rows["11-20"] == ["1", "12"]
    assert rows["1001+"] == ["0", "0"]
    assert rows["12"] == ["5550100"]


def test_blocked_values_and_held_merges_are_reported(identify, settings):
    settings.IDENTITY_MAX_CLUSTER_SIZE = 2
    identify(email="test@test.com", phone="5550001")
    identify(email="test@test.com", phone="5550002")
    identify(email="a@example.com", phone="5550003")
    identify(email="b@example.com", phone="5550003")
    identify(email="c@example.com", phone="5550003")

    parsed = json.loads(report("--json"))
    text = report()

    assert parsed["most_shared"]["email"][0] == {
        "value": "test@test.com",
        "contacts": 2,
        "blocked": True,
    }
    assert parsed["held_merges"]["pending"] == 1
    assert [day["held"] for day in parsed["held_merges"]["by_day"]] == [1]
    assert "test@test.com  (blocked)" in text
    assert "Held merges: 1 pending" in text


def test_an_empty_database_reports_no_shared_values():
    text = report()

    assert text.count("none shared by two contacts or more") == 2


DATA_QUALITY = "/admin/contacts/cluster/data-quality/"


def test_the_admin_page_charts_the_sizes_and_links_the_shared_values(
    placeholder_supercluster, staff_client
):
    response = staff_client(READ_ONLY).get(DATA_QUALITY)

    assert response.status_code == 200
    chart = response.context["chart"]
    rows = {bar.label: (bar.clusters, bar.contacts) for bar in chart.bars}
    assert rows["11-20"] == (1, 12)
    assert rows["1"] == (1, 1)
    widths = {bar.label: bar.width for bar in chart.bars}
    assert widths["1001+"] == 0 < widths["11-20"]
    page = response.content.decode()
    sizes_module = page[page.index('id="cluster-sizes"') : page.index('id="most-shared-email"')]
    assert sizes_module.count("<rect ") == len(chart.bars)
    assert '<a href="/admin/contacts/cluster/?q=5550100">5550100</a>' in page
    assert '<a href="/admin/contacts/cluster/?q=pat%40example.com">pat@example.com</a>' in page


def test_the_cluster_list_links_to_the_page(staff_client):
    response = staff_client(READ_ONLY).get("/admin/contacts/cluster/")

    assert f'href="{DATA_QUALITY}"' in response.content.decode()


def test_the_page_needs_the_permission_to_view_clusters(django_user_model):
    client = Client()
    client.force_login(
        django_user_model.objects.create_user(username="nobody", password="x", is_staff=True)
    )

    assert client.get(DATA_QUALITY).status_code == 403
