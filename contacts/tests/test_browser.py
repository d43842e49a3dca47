"""End to end in a real headless Chromium: a support person undoes a wrong merge from the admin,
and a developer calls the API from its docs with a key.

Drives Debian's ``chromium`` through Playwright (no browser download) against a live server, and
saves a screenshot of every step in ``artifacts/browser/``. Outside CI the test is skipped when
Chromium is missing; with ``CI=true`` it fails instead, since ``.ci/run`` installs it.
"""

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect, sync_playwright

from contacts.services.identify import contact_identify

CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(settings.BASE_DIR) / "artifacts" / "browser"
PASSWORD = "correct horse battery staple"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        CHROMIUM is None and os.environ.get("CI") != "true",
        reason="needs Debian's chromium (apt-get install chromium); .ci/run installs it",
    ),
]


def snap(page: Page, name: str) -> None:
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


@contextmanager
def chromium_page() -> Iterator[Page]:
    """A page of a fresh headless Chromium, 1280 by 900, closed when the block ends (inside the
    test: the live server's threads then finish their requests before the test's database
    clean-up)."""
    assert CHROMIUM is not None, "CI=true but chromium is not installed: .ci/run installs it"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser.new_page(viewport={"width": 1280, "height": 900})
        finally:
            browser.close()


@pytest.fixture(autouse=True)
def _sync_orm_beside_playwright(monkeypatch) -> None:
    """Playwright's sync API runs an event loop in the test's thread; the ORM calls the test
    makes are synchronous all the same."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def test_support_finds_a_cluster_and_undoes_a_wrong_merge(live_server, django_user_model):
    django_user_model.objects.create_superuser(username="support", password=PASSWORD)
    lorraine = contact_identify(email="lorraine@example.com", phone_number="111").primary_id
    # One checkout typed Lorraine's email with George's phone before George ever ordered...
    contact_identify(email="lorraine@example.com", phone_number="222")
    # ... so George's own contact joined Lorraine's cluster through that phone.
    joined = contact_identify(email="george@example.com", phone_number="222")
    bridge, george = joined.secondary_ids
    assert joined.primary_id == lorraine

    with chromium_page() as page:
        page.goto(f"{live_server.url}/admin/login/?next=/admin/contacts/cluster/")
        page.fill("#id_username", "support")
        page.fill("#id_password", PASSWORD)
        snap(page, "1-login")
        page.click("input[type=submit]")

        page.fill("#searchbar", "(222)")
        page.press("#searchbar", "Enter")
        rows = page.locator("#result_list tbody tr")
        expect(rows).to_have_count(1)
        snap(page, "2-search-phone")
        page.click(f'#result_list a[href*="/cluster/{lorraine}/change/"]')

        expect(page.locator(f"#contact-{george} .reason")).to_contain_text(
            f"Shares phone 222 with #{bridge}"
        )
        snap(page, "3-cluster")
        page.locator(f"#contact-{bridge}").get_by_role("link", name="soft-delete").click()

        expect(page.locator("#correction-preview")).to_contain_text("splits into 2")
        snap(page, "4-confirm-soft-delete")
        page.get_by_role("button", name="Yes, soft-delete").click()

        expect(rows).to_have_count(2)
        expect(page.locator("#result_list")).to_contain_text("george@example.com")
        snap(page, "5-two-clusters")


def test_swagger_ui_authorizes_with_an_api_key_and_calls_identify(live_server, api_keys_required):
    """The API docs' "Authorize" takes ``Api-Key <key>`` and "Try it out" then succeeds."""
    key = api_keys_required(name="swagger")

    with chromium_page() as page:
        page.goto(f"{live_server.url}/docs/")
        operation = page.locator("#operations-identify-identify_create")
        operation.locator(".opblock-summary").click()
        operation.get_by_role("button", name="Try it out").click()
        operation.get_by_role("button", name="Execute").click()
        expect(
            operation.locator(".live-responses-table tr.response .response-col_status")
        ).to_contain_text("401")
        snap(page, "6-swagger-without-key")

        page.locator(".auth-wrapper .authorize").click()
        page.locator(".auth-container input").fill(f"Api-Key {key}")
        page.locator(".auth-btn-wrapper .authorize").click()
        page.locator(".auth-btn-wrapper .btn-done").click()
        operation.get_by_role("button", name="Execute").click()

        expect(
            operation.locator(".live-responses-table tr.response .response-col_status")
        ).to_contain_text("200")
        expect(operation.locator(".live-responses-table")).to_contain_text("primaryContactId")
        snap(page, "7-swagger-with-key")
