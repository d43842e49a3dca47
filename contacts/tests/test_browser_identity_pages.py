"""The cluster page's graph picture and history in a real headless Chromium, under the
Content-Security-Policy, at a laptop's 1280 by 800: the machinery (Chromium, the policy's
violation reports, screenshots in ``artifacts/browser/``) is ``test_browser``'s."""

import os
import re

import pytest
from playwright.sync_api import expect

from contacts.services.corrections import contacts_soft_delete
from contacts.services.identify import contact_identify
from contacts.tests import test_browser
from contacts.tests.test_browser import CHROMIUM, chromium_page, sign_in, snap

# The module's one Chromium, as ``test_browser`` starts it.
browser = test_browser.browser

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        CHROMIUM is None and os.environ.get("CI") != "true",
        reason="needs Debian's chromium (apt-get install chromium); .ci/run installs it",
    ),
]

OVERFLOWS = "() => document.documentElement.scrollWidth > document.documentElement.clientWidth"


def eight_contacts() -> int:
    """A cluster of eight live contacts, one of them with only a phone number, formed by two
    merges that left link records, with a ninth contact soft-deleted from it; its primary's id."""
    lorraine = contact_identify(email="lorraine@example.com", phone_number="5550101").primary_id
    contact_identify(email="lorraine.mcfly@example.com", phone_number="5550101")
    contact_identify(email="lorraine@example.com", phone_number="5550102")
    contact_identify(email="george@example.com", phone_number="5550201")
    contact_identify(email="george.mcfly@example.com", phone_number="5550201")
    # An order with Lorraine's email and George's phone: the two identities merge (a link record).
    contact_identify(email="lorraine@example.com", phone_number="5550201")
    contact_identify(email=None, phone_number="5550202")
    contact_identify(email="george@example.com", phone_number="5550202")
    contact_identify(email="marty@example.com", phone_number="5550102")
    contact_identify(email="marty@example.com", phone_number="5550301")
    biff = contact_identify(email="biff@example.com", phone_number="5550101").secondary_ids[-1]
    contacts_soft_delete(contact_ids=[biff])
    return lorraine


def test_a_cluster_page_draws_its_graph_and_tells_its_history(
    browser, live_server, django_user_model
):
    cluster = eight_contacts()

    with chromium_page(browser) as page:
        page.set_viewport_size({"width": 1280, "height": 800})
        sign_in(page, live_server, django_user_model.objects.create_superuser("support"))
        page.goto(f"{live_server.url}/admin/contacts/cluster/{cluster}/change/")

        graph = page.locator("svg.cluster-graph")
        expect(graph).to_be_visible()
        expect(graph.locator("a.graph-contact")).to_have_count(8)
        expect(graph.locator("a.graph-link")).to_have_count(2)
        expect(graph.locator("a.graph-primary")).to_have_count(1)
        expect(graph.locator("text", has_text="lorraine@example.com")).to_be_visible()
        assert graph.bounding_box()["width"] > 600
        assert not page.evaluate(OVERFLOWS), "the page scrolls sideways"
        page.locator("#cluster-graph").scroll_into_view_if_needed()
        snap(page, "cluster-graph")

        history = page.locator("#cluster-history")
        history.scroll_into_view_if_needed()
        expect(history).to_contain_text(
            "An order with email lorraine@example.com and phone 5550201 made #"
        )
        expect(history.locator("time").first).to_have_attribute(
            "datetime", re.compile(r"^\d{4}-\d\d-\d\dT")
        )
        expect(history.locator("time").first).to_contain_text(" UTC")
        expect(history).to_contain_text("soft-deleted #")


def test_the_history_admin_tells_each_event_in_a_sentence(browser, live_server, django_user_model):
    eight_contacts()

    with chromium_page(browser) as page:
        page.set_viewport_size({"width": 1280, "height": 800})
        sign_in(page, live_server, django_user_model.objects.create_superuser("support"))
        page.goto(f"{live_server.url}/admin/contacts/clusterevent/")

        results = page.locator("#result_list")
        expect(results).to_contain_text("An order with phone 5550202 created #")
        expect(results.locator("time").first).to_contain_text(" UTC")
        assert not page.evaluate(OVERFLOWS), "the page scrolls sideways"
        snap(page, "history")
