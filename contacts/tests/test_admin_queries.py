"""The admin's lists read a page in a fixed number of statements, however many contacts exist."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

pytestmark = pytest.mark.django_db

# The session, the user, the paginator's count, and the page of rows with every column annotated:
# the primary comes through a join, cluster sizes and counts through subqueries.
BUDGET = 4


@pytest.fixture
def clusters(make_contact):
    """``count`` clusters of three contacts each."""

    def create(count: int) -> None:
        for index in range(count):
            primary = make_contact(email=f"{index}@example.com", phone=f"{index}000")
            make_contact(email=f"{index}.b@example.com", phone=f"{index}000", linked=primary)
            make_contact(email=f"{index}.b@example.com", phone=f"{index}111", linked=primary)

    return create


def statements(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


@pytest.mark.parametrize(
    ("url_name", "rows_shown"),
    [("admin:contacts_contact_changelist", 100), ("admin:contacts_cluster_changelist", 100)],
)
def test_a_full_page_costs_what_a_page_of_one_costs(admin_client, clusters, url_name, rows_shown):
    url = reverse(url_name)
    clusters(1)
    small = statements(admin_client, url)
    clusters(110)

    large = statements(admin_client, url)

    assert len(admin_client.get(url).context["cl"].result_list) == rows_shown
    assert large == small
    assert large <= BUDGET


@pytest.mark.parametrize(
    "url_name", ["admin:contacts_contact_changelist", "admin:contacts_cluster_changelist"]
)
def test_a_search_costs_no_more_than_the_list(admin_client, clusters, url_name):
    clusters(110)
    url = reverse(url_name)

    assert statements(admin_client, f"{url}?q=42000") <= statements(admin_client, url)
