"""End to end in a real headless Chromium: a support person undoes a wrong merge from the admin,
a developer calls the API from its docs with a key, and every admin and docs page renders under the
Content-Security-Policy.

Drives Debian's ``chromium`` through Playwright (no browser download) against a live server, and
saves a screenshot of every step in ``artifacts/browser/``. Every test fails on any violation of
the policy the browser reports, on any page it visited. Outside CI the tests are skipped when
Chromium is missing; with ``CI=true`` they fail instead, since ``.ci/run`` installs it.
"""

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.test import Client
from playwright.sync_api import Browser, Page, expect, sync_playwright
from pytest_django.live_server_helper import LiveServer

from contacts.models import (
    ClusterLimit,
    Contact,
    ErasureScope,
    HeldMerge,
    HeldMergeKind,
    IdentifierKind,
    IdentityLink,
    MatchType,
    Scope,
    Source,
)
from contacts.selectors.privacy import ErasureSubject
from contacts.services.api_keys import api_key_create
from contacts.services.corrections import contacts_soft_delete
from contacts.services.erasure import Requester, person_erase
from contacts.services.events import events_sequence
from contacts.services.governance import identifier_block
from contacts.services.identify import contact_identify
from contacts.services.webhooks import webhook_endpoint_create

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
# A laptop's screen: the admin's lists must fit it beside Django's navigation sidebar.
VIEWPORT = {"width": 1280, "height": 800}
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


# Installed before any script of each document the page loads. Chromium fires the event for every
# load, script, style or worker the policy refuses; the binding hands it to the test.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => window.reportCspViolation(
    `${location.pathname}${location.search}: ${event.effectiveDirective} refused `
    + `${event.blockedURI || "an inline one"} (${event.sourceFile}:${event.lineNumber})`
), true);
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the module (starting one takes seconds); each test browses in a
    context of its own (``chromium_page``)."""
    assert CHROMIUM is not None, "CI=true but chromium is not installed: .ci/run installs it"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        # Playwright's sync API runs an event loop in this thread from here on; the ORM calls of
        # the tests and of their database set-up and clean-up are synchronous all the same.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@contextmanager
def chromium_page(browser: Browser) -> Iterator[Page]:
    """A page of ``VIEWPORT`` in a fresh context (no cookies, no cache) closed when the block ends:
    inside the test, so that the live server's threads finish their requests before the test's
    database clean-up. The block fails if the browser refused anything under the
    Content-Security-Policy (Playwright leaves the policy enforced: ``bypass_csp`` is off)."""
    violations: list[str] = []
    context = browser.new_context(viewport=VIEWPORT)
    try:
        context.expose_binding("reportCspViolation", lambda _source, text: violations.append(text))
        context.add_init_script(REPORT_CSP_VIOLATIONS)
        page = context.new_page()
        yield page
        # A round trip to the page: any report sent before it has reached the test.
        page.evaluate("() => new Promise((done) => setTimeout(done))")
    finally:
        context.close()
    assert violations == [], "\n".join(violations)


def sign_in(page: Page, live_server: LiveServer, user: AbstractBaseUser) -> None:
    """Give the browser a session of ``user`` for the live server, without the login form."""
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


def test_support_finds_a_cluster_and_undoes_a_wrong_merge(browser, live_server, django_user_model):
    django_user_model.objects.create_superuser(username="support", password=PASSWORD)
    lorraine = contact_identify(email="lorraine@example.com", phone_number="111").primary_id
    # One checkout typed Lorraine's email with George's phone before George ever ordered...
    contact_identify(email="lorraine@example.com", phone_number="222")
    # ... so George's own contact joined Lorraine's cluster through that phone.
    joined = contact_identify(email="george@example.com", phone_number="222")
    bridge, george = joined.secondary_ids
    assert joined.primary_id == lorraine

    with chromium_page(browser) as page:
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


def test_swagger_ui_authorizes_with_an_api_key_and_calls_identify(
    browser, live_server, api_keys_required
):
    """The API docs' "Authorize" takes ``Api-Key <key>`` and "Try it out" then succeeds."""
    key = api_keys_required(name="swagger")

    with chromium_page(browser) as page:
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


def test_a_lead_blocks_the_shops_phone_number_from_the_data_quality_page(
    browser, live_server, django_user_model
):
    """Two customers typed the shop's own number: blocking it from its "block…" link shows the
    split first, and applies it on confirmation."""
    contact_identify(email="lorraine@example.com", phone_number="5550100")
    contact_identify(email="george@example.com", phone_number="5550100")

    with chromium_page(browser) as page:
        sign_in(page, live_server, django_user_model.objects.create_superuser("lead"))
        page.goto(f"{live_server.url}/admin/contacts/cluster/data-quality/")
        page.locator("#most-shared-phone").get_by_role("link", name="block…").click()
        page.fill("#id_reason", "the shop's own number")
        snap(page, "8-block-form")
        page.get_by_role("button", name="Preview").click()

        expect(page.locator("#governance-preview")).to_contain_text("splits into 2 identities")
        snap(page, "9-block-preview")
        page.get_by_role("button", name="Block").click()

        expect(page.locator(".messagelist")).to_contain_text("Cluster split")
        expect(page.locator("#result_list")).to_contain_text("5550100")
        snap(page, "10-blocked")


# Each page, and what shows that it rendered (admin widgets and the docs are drawn by scripts).
# {cluster} is a cluster's primary, {contact} a secondary of it, {entry} a blocked email and
# {held} a held merge.
PAGES = [
    ("/", "main", "Health checks"),
    ("/admin/login/", "#login-form", "Password"),
    ("/admin/", "#content-main", "Identity clusters"),
    ("/admin/contacts/cluster/?q=222", "#result_list", "lorraine@example.com"),
    ("/admin/contacts/cluster/{cluster}/change/", "#cluster-contacts", "Shares phone 222"),
    ("/admin/contacts/cluster/data-quality/", "#most-shared-phone", "222"),
    ("/admin/contacts/cluster/data-quality/", "#most-shared-phone", "block…"),
    ("/admin/contacts/cluster/data-quality/", "#held-merges", "open the queue"),
    ("/admin/contacts/contact/", "#changelist-form .actions", "Soft-delete"),
    ("/admin/contacts/contact/{contact}/change/", "#contact_form", "lorraine@example.com"),
    ("/admin/contacts/contact/{contact}/identifiers/", "#contact_form", "Save and reconcile"),
    ("/admin/contacts/contact/soft-delete/?ids={contact}", "#correction-preview", "splits"),
    ("/admin/contacts/contact/{contact}/erase/", "#erasure-preview", "identifiers only"),
    ("/admin/contacts/cluster/erase/?ids={cluster}", "#erasure-preview", "whole identity"),
    ("/admin/contacts/erasure/", "#changelist", "0 erasures"),
    ("/admin/contacts/clusterevent/", "#result_list", "Secondary added"),
    ("/admin/contacts/identitylink/", "#changelist", "identity link"),
    ("/admin/contacts/apikey/add/", "#apikey_form", "Scopes"),
    ("/admin/contacts/blockedidentifier/", "#result_list", "nobody@example.com"),
    (
        "/admin/contacts/blockedidentifier/add/?kind=phone&value=222",
        "#blockedidentifier_form",
        "nothing is written before you confirm",
    ),
    ("/admin/contacts/blockedidentifier/{entry}/delete/", "#governance-preview", "No identities"),
    ("/admin/contacts/heldmerge/", "#result_list", "george@example.com"),
    ("/admin/contacts/heldmerge/", "#changelist-form .actions", "Approve: apply the merge"),
    ("/admin/contacts/heldmerge/{held}/change/", "#heldmerge_form", "george@example.com"),
    # SelectFilter2 builds the permissions' two lists in JavaScript.
    ("/admin/auth/group/add/", "#id_permissions_add_all", "Choose all"),
    ("/docs/", "#operations-identify-identify_create", "/identify/"),
    ("/redoc/", "#redoc-container", "Link an email and/or phone number into one identity"),
]


@pytest.mark.parametrize(("path", "rendered", "text"), PAGES, ids=[page[0] for page in PAGES])
def test_each_admin_and_docs_page_renders_with_no_csp_violation(
    browser, live_server, django_user_model, path, rendered, text
):
    cluster = contact_identify(email="lorraine@example.com", phone_number="111").primary_id
    contact = contact_identify(email="lorraine@example.com", phone_number="222").secondary_ids[0]
    contact_identify(email="george@example.com", phone_number="222")
    entry = identifier_block(
        kind=IdentifierKind.EMAIL, match=MatchType.EXACT, value="nobody@example.com", reason="test"
    ).entry
    # As the guard would hold it with a limit of 3 (``test_admin_governance`` makes them so).
    held = HeldMerge.objects.create(
        email="george@example.com",
        phone_number="111",
        kind=HeldMergeKind.MERGE,
        primary_id=cluster,
        size=4,
        limit=3,
    )

    with chromium_page(browser) as page:
        if path.startswith("/admin/") and path != "/admin/login/":
            sign_in(page, live_server, django_user_model.objects.create_superuser("support"))
        page.goto(
            live_server.url
            + path.format(cluster=cluster, contact=contact, entry=entry.pk, held=held.pk)
        )

        expect(page.locator(rendered)).to_contain_text(text)
        # What a page loads after it first renders (ReDoc's menu, say) is in before the count.
        page.wait_for_load_state("networkidle")


# Every list of the contacts app, showing every row (the held merges' queue opens on the pending),
# and the name of its screenshot.
CHANGELISTS = [
    ("/admin/contacts/contact/", "contacts-list"),
    ("/admin/contacts/cluster/", "clusters-list"),
    ("/admin/contacts/clusterevent/", "history-list"),
    ("/admin/contacts/identitylink/", "link-records-list"),
    ("/admin/contacts/apikey/", "api-keys-list"),
    ("/admin/contacts/blockedidentifier/", "blocked-identifiers-list"),
    ("/admin/contacts/heldmerge/?status=all", "held-merges-list"),
    ("/admin/contacts/clusterlimit/", "cluster-limits-list"),
    ("/admin/contacts/erasure/", "erasures-list"),
    ("/admin/contacts/webhookendpoint/", "webhook-endpoints-list"),
    ("/admin/contacts/webhookdelivery/", "webhook-deliveries-list"),
    ("/admin/contacts/outboxevent/", "identity-events-list"),
    ("/admin/", "admin-index"),
]
LONG_EMAIL = "marty.seamus.mcfly.the.third@hill-valley-high-school-alumni.example.com"


def seed_every_list(user: AbstractBaseUser) -> int:
    """A few rows in each list, with values as long as customers type them; returns the id of a
    soft-deleted contact."""
    webhook_endpoint_create(
        url="https://crm.example.com/hooks/identity-reconciliation/production", event_types=[]
    )
    lorraine = contact_identify(email=LONG_EMAIL, phone_number="+1 (555) 010-0777").primary_id
    for number in range(12):
        contact_identify(email=f"{number}.{LONG_EMAIL}", phone_number=f"+155501{number:05}")
    contact_identify(email=LONG_EMAIL, phone_number="+15550109999")
    deleted = Contact.objects.get(phone_number="+15550109999").id
    contacts_soft_delete(contact_ids=[deleted], user=user)
    IdentityLink.objects.create(email=LONG_EMAIL, phone_number="+15550100001")
    events_sequence()
    api_key_create(name="Checkout service, production", scopes=[Scope.IDENTIFY, Scope.PRIVACY])
    identifier_block(
        kind=IdentifierKind.EMAIL, match=MatchType.EXACT, value=LONG_EMAIL, reason="the shop's"
    )
    held = HeldMerge.objects.create(
        email=LONG_EMAIL,
        phone_number="+15550100002",
        kind=HeldMergeKind.MERGE,
        primary_id=lorraine,
        size=4,
        limit=3,
    )
    ClusterLimit.objects.create(contact_id=lorraine, max_size=40, held_merge=held, set_by=user)
    person_erase(
        subject=ErasureSubject(scope=ErasureScope.IDENTIFIER, email=f"0.{LONG_EMAIL}"),
        reason="the person asked, by email to support",
        requester=Requester(source=Source.ADMIN, name=user.get_username(), user=user),
    )
    return deleted


def overflow(page: Page) -> dict[str, list[int]]:
    """The boxes wider inside than they show, each as [scrollWidth, clientWidth]: the list's
    results (their own scroll box) and the whole page."""
    return page.evaluate("""() => Object.fromEntries(
        [["results", document.querySelector("#changelist-form .results")],
         ["document", document.documentElement]]
        .filter(([, box]) => box && box.scrollWidth > box.clientWidth)
        .map(([name, box]) => [name, [box.scrollWidth, box.clientWidth]])
    )""")


@pytest.mark.parametrize(("path", "screenshot"), CHANGELISTS)
def test_each_list_fits_a_laptop_screen(browser, live_server, django_user_model, path, screenshot):
    """No column is beyond the right edge at 1280 by 800, beside the navigation sidebar (open, as
    Django first shows it), even with long emails."""
    user = django_user_model.objects.create_superuser("support")
    seed_every_list(user)

    with chromium_page(browser) as page:
        sign_in(page, live_server, user)
        page.goto(f"{live_server.url}{path}")
        expect(page.locator("#content")).to_be_visible()
        snap(page, screenshot)

        assert overflow(page) == {}


def test_a_soft_deleted_contact_is_marked_in_the_list(browser, live_server, django_user_model):
    user = django_user_model.objects.create_superuser("support")
    deleted = seed_every_list(user)

    with chromium_page(browser) as page:
        sign_in(page, live_server, user)
        page.goto(f"{live_server.url}/admin/contacts/contact/")
        link = page.get_by_role("link", name=f"#{deleted}", exact=True)
        row = page.locator("#result_list tbody tr").filter(has=link)

        badge = row.locator(".badge-deleted")
        expect(badge).to_have_text("deleted")
        expect(badge).to_be_in_viewport(ratio=1)
        expect(row.locator(".field-email")).to_have_css("text-decoration-line", "line-through")
        expect(page.locator("#result_list .badge-deleted")).to_have_count(1)


@pytest.mark.parametrize("path", ["/", "/docs/", "/redoc/"])
def test_the_landing_page_and_the_docs_load_nothing_from_another_host(browser, live_server, path):
    with chromium_page(browser) as page:
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")

        elsewhere = [
            url
            for url in requested
            if not url.startswith((f"{live_server.url}/", "data:", "blob:"))
        ]
        assert requested
        assert elsewhere == []


def test_the_landing_page_points_to_the_docs_the_admin_and_the_health_checks(browser, live_server):
    with chromium_page(browser) as page:
        page.goto(f"{live_server.url}/")

        expect(page.locator("h1")).to_have_text("Identity reconciliation")
        for name in ["/docs/", "/redoc/", "/admin/", "/health/", "/health/ready/"]:
            expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
        snap(page, "landing-page")
        page.get_by_role("link", name="/health/ready/", exact=True).click()
        expect(page.locator("body")).to_contain_text('"status"')
