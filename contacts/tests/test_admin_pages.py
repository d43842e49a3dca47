"""The admin's lists, search and cluster page, as a superuser sees them (SPEC §7)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from contacts.models import Cluster, Contact, IdentityLink
from contacts.services.corrections import contacts_soft_delete

pytestmark = pytest.mark.django_db

CONTACTS = reverse("admin:contacts_contact_changelist")
CLUSTERS = reverse("admin:contacts_cluster_changelist")


def cluster_page(primary_id: int | str) -> str:
    return reverse("admin:contacts_cluster_change", args=[primary_id])


def listed_ids(response) -> list[int]:
    return [obj.pk for obj in response.context["cl"].result_list]


class TestContactsList:
    def test_shows_each_contact_with_its_primary_and_cluster_size(self, admin_client, make_contact):
        primary = make_contact(email="a@example.com", phone="111")
        secondary = make_contact(email="b@example.com", phone="111", linked=primary)
        alone = make_contact(email="c@example.com", phone="333")

        response = admin_client.get(CONTACTS)

        assert response.status_code == 200
        rows = {obj.pk: obj for obj in response.context["cl"].result_list}
        assert (rows[primary.id].cluster_size, rows[secondary.id].cluster_size) == (2, 2)
        assert rows[alone.id].cluster_size == 1
        assert listed_ids(response) == [alone.id, secondary.id, primary.id]
        assert f'href="{cluster_page(primary.id)}"' in response.content.decode()

    @pytest.mark.parametrize(
        "term",
        ["+1 (555) 010-99", "  +1.555.01099 ", "+155501099"],
        ids=["spaces", "dots", "plain"],
    )
    def test_search_normalizes_a_phone_number_as_the_api_does(
        self, admin_client, make_contact, term
    ):
        wanted = make_contact(email="a@example.com", phone="+155501099")
        make_contact(email="b@example.com", phone="155501099")

        response = admin_client.get(CONTACTS, {"q": term})

        assert listed_ids(response) == [wanted.id]

    def test_search_matches_an_email_whatever_its_case_and_an_id(self, admin_client, make_contact):
        wanted = make_contact(email="lorraine@example.com", phone="111")
        other = make_contact(email="lorraine@example.org", phone="222")

        assert listed_ids(admin_client.get(CONTACTS, {"q": " Lorraine@Example.COM "})) == [
            wanted.id
        ]
        assert listed_ids(admin_client.get(CONTACTS, {"q": str(other.id)})) == [other.id]

    def test_search_is_exact_and_finds_nothing_for_a_partial_value(
        self, admin_client, make_contact
    ):
        make_contact(email="lorraine@example.com", phone="123456")

        assert listed_ids(admin_client.get(CONTACTS, {"q": "lorraine"})) == []
        assert listed_ids(admin_client.get(CONTACTS, {"q": "12345"})) == []

    def test_a_deleted_contact_is_found_by_id_and_by_the_deleted_filter(
        self, admin_client, make_contact
    ):
        live = make_contact(email="a@example.com", phone="111")
        deleted = make_contact(email="b@example.com", phone="222", deleted=True)

        assert listed_ids(admin_client.get(CONTACTS, {"q": str(deleted.id)})) == [deleted.id]
        assert listed_ids(admin_client.get(CONTACTS, {"status": "deleted"})) == [deleted.id]
        assert listed_ids(admin_client.get(CONTACTS, {"status": "live"})) == [live.id]

    def test_filters_by_precedence_and_created_date(self, admin_client, make_contact):
        primary = make_contact(email="a@example.com", phone="111")
        secondary = make_contact(email="b@example.com", phone="111", linked=primary)

        by_precedence = admin_client.get(CONTACTS, {"link_precedence__exact": "secondary"})
        by_date = admin_client.get(CONTACTS, {"created_at__gte": "2024-01-01 00:00:01+00:00"})
        before = admin_client.get(CONTACTS, {"created_at__lt": "2024-01-01 00:00:00+00:00"})

        assert listed_ids(by_precedence) == [secondary.id]
        assert listed_ids(by_date) == [secondary.id]
        assert listed_ids(before) == []

    def test_a_contact_page_is_read_only_and_offers_the_corrections(
        self, admin_client, make_contact
    ):
        contact = make_contact(email="a@example.com", phone="111")
        url = reverse("admin:contacts_contact_change", args=[contact.id])

        page = admin_client.get(url).content.decode()
        admin_client.post(url, {"email": "x@example.com", "link_precedence": "secondary"})

        assert 'name="email"' not in page
        assert "<select" not in page
        assert reverse("admin:contacts_contact_identifiers", args=[contact.id]) in page
        assert f"{reverse('admin:contacts_contact_soft_delete')}?ids={contact.id}" in page
        contact.refresh_from_db()
        assert contact.email == "a@example.com"

    def test_a_soft_deleted_contact_offers_restore_only(self, admin_client, make_contact):
        contact = make_contact(email="a@example.com", phone="111", deleted=True)

        page = admin_client.get(reverse("admin:contacts_contact_change", args=[contact.id]))

        html = page.content.decode()
        assert f"{reverse('admin:contacts_contact_restore')}?ids={contact.id}" in html
        assert reverse("admin:contacts_contact_soft_delete") not in html
        assert reverse("admin:contacts_contact_identifiers", args=[contact.id]) not in html

    def test_there_is_no_add_page_and_no_hard_delete(self, admin_client, make_contact):
        contact = make_contact(email="a@example.com", phone="111")

        add = admin_client.get(reverse("admin:contacts_contact_add"))
        delete = admin_client.post(
            reverse("admin:contacts_contact_delete", args=[contact.id]), {"post": "yes"}
        )
        actions = admin_client.get(CONTACTS).context["action_form"].fields["action"].choices

        assert add.status_code == 403
        assert delete.status_code == 403
        assert "delete_selected" not in dict(actions)
        assert Contact.objects.filter(id=contact.id).exists()


class TestClustersList:
    def test_one_row_per_live_primary_with_its_counts(self, admin_client, make_contact):
        primary = make_contact(email="a@example.com", phone="111")
        make_contact(email="b@example.com", phone="111", linked=primary)
        make_contact(email="b@example.com", phone="222", linked=primary)
        make_contact(email="c@example.com", phone="111", linked=primary, deleted=True)
        other = make_contact(email="z@example.com")

        response = admin_client.get(CLUSTERS)

        rows = {obj.pk: obj for obj in response.context["cl"].result_list}
        assert set(rows) == {primary.id, other.id}
        cluster = rows[primary.id]
        assert (cluster.contact_count, cluster.email_count, cluster.phone_count) == (3, 2, 2)
        assert (rows[other.id].contact_count, rows[other.id].phone_count) == (1, 0)
        assert cluster.last_activity is not None

    def test_searching_any_identifier_of_a_cluster_finds_the_cluster(
        self, admin_client, bridged_customers
    ):
        lorraine, _, george = bridged_customers
        make_other = Contact.objects.create(email="other@example.com", phone_number="999")

        for term in ["George@Example.com", "2-2-2", str(george.id)]:
            assert listed_ids(admin_client.get(CLUSTERS, {"q": term})) == [lorraine.id], term
        assert listed_ids(admin_client.get(CLUSTERS, {"q": "999"})) == [make_other.id]


class TestClusterPage:
    def test_shows_the_primary_first_and_why_each_contact_belongs(
        self, admin_client, bridged_customers
    ):
        lorraine, bridge, george = bridged_customers

        response = admin_client.get(cluster_page(lorraine.id))

        assert response.status_code == 200
        detail = response.context["cluster"]
        assert [member.id for member in detail.members] == [lorraine.id, bridge.id, george.id]
        assert detail.emails == ["lorraine@example.com", "george@example.com"]
        assert detail.phone_numbers == ["111", "222"]
        page = response.content.decode()
        assert "The oldest contact: it leads the cluster." in page
        assert (
            f'Shares email <strong>lorraine@example.com</strong> with <a href="#contact-'
            f'{lorraine.id}">#{lorraine.id}</a>'
        ) in page
        assert (
            f'Shares phone <strong>222</strong> with <a href="#contact-{bridge.id}">'
            f"#{bridge.id}</a>"
        ) in page

    def test_shows_the_link_record_of_the_request_that_bridged_two_clusters(
        self, admin_client, identify
    ):
        george = identify(email="george@example.com", phone="919191")["primaryContactId"]
        biff = identify(email="biff@example.com", phone="717171")["primaryContactId"]
        identify(email="george@example.com", phone="717171")

        response = admin_client.get(cluster_page(george))

        detail = response.context["cluster"]
        assert [link.phone_number for link in detail.links] == ["717171"]
        assert detail.reasons[biff].link == IdentityLink.objects.get()
        assert "in one request that bridged two clusters" in response.content.decode()

    def test_shows_the_history_with_merges_and_the_staff_user(
        self, admin_client, identify, admin_user
    ):
        george = identify(email="george@example.com", phone="919191")["primaryContactId"]
        biff = identify(email="biff@example.com", phone="717171")["primaryContactId"]
        identify(email="george@example.com", phone="717171")
        extra = identify(email="extra@example.com", phone="717171")["secondaryContactIds"][-1]
        contacts_soft_delete(contact_ids=[extra], user=admin_user)

        response = admin_client.get(cluster_page(george))

        detail = response.context["cluster"]
        kinds = [(event.get_kind_display(), event.contact_id) for event in detail.events]
        assert kinds == [
            ("Contact soft-deleted", extra),
            ("Secondary added", extra),
            ("Clusters merged", biff),
            ("Primary created", biff),
            ("Primary created", george),
        ]
        assert detail.events[0].user == admin_user
        assert [contact.id for contact in detail.deleted] == [extra]
        assert f"{reverse('admin:contacts_contact_restore')}?ids={extra}" in (
            response.content.decode()
        )

    def test_a_merged_away_cluster_sends_to_the_cluster_it_joined(self, admin_client, identify):
        george = identify(email="george@example.com", phone="919191")["primaryContactId"]
        biff = identify(email="biff@example.com", phone="717171")["primaryContactId"]
        identify(email="george@example.com", phone="717171")

        response = admin_client.get(cluster_page(biff))

        assert response.status_code == 302
        assert response.url == cluster_page(george)
        assert not Cluster.objects.filter(pk=biff).exists()

    def test_the_history_follows_contacts_that_split_off(self, admin_client, bridged_customers):
        lorraine, bridge, george = bridged_customers
        contacts_soft_delete(contact_ids=[bridge.id])

        lorraine_page = admin_client.get(cluster_page(lorraine.id)).context["cluster"]
        george_page = admin_client.get(cluster_page(george.id)).context["cluster"]

        assert [(e.get_kind_display(), e.contact_id) for e in george_page.events] == [
            ("Cluster split", george.id)
        ]
        assert [(e.get_kind_display(), e.contact_id) for e in lorraine_page.events] == [
            ("Contact soft-deleted", bridge.id)
        ]
        assert [member.id for member in george_page.members] == [george.id]

    def test_an_unknown_cluster_is_not_found(self, admin_client):
        assert admin_client.get(cluster_page(123456)).status_code == 404
        assert admin_client.get(cluster_page("x")).status_code == 404

    def test_the_page_costs_the_same_for_a_cluster_of_3_or_60(self, admin_client, make_contact):
        def statements(size: int) -> int:
            primary = make_contact(email=f"{size}@example.com", phone=f"{size}000")
            for index in range(1, size):
                make_contact(
                    email=f"{size}.{index}@example.com", phone=f"{size}000", linked=primary
                )
            with CaptureQueriesContext(connection) as captured:
                assert admin_client.get(cluster_page(primary.id)).status_code == 200
            return len(captured.captured_queries)

        assert statements(3) == statements(60)


class TestHistoryAndLinkRecords:
    def test_events_are_listed_and_searched_by_contact_id(self, admin_client, identify):
        george = identify(email="george@example.com", phone="919191")["primaryContactId"]
        identify(email="biff@example.com", phone="717171")
        url = reverse("admin:contacts_clusterevent_changelist")

        assert len(listed_ids(admin_client.get(url))) == 2
        assert len(listed_ids(admin_client.get(url, {"q": str(george)}))) == 1
        assert admin_client.get(url, {"q": "george"}).status_code == 200

    def test_link_records_are_searched_as_the_api_normalizes(self, admin_client, identify):
        identify(email="george@example.com", phone="919191")
        identify(email="biff@example.com", phone="717171")
        identify(email="george@example.com", phone="717171")
        url = reverse("admin:contacts_identitylink_changelist")

        assert len(listed_ids(admin_client.get(url, {"q": "717-171"}))) == 1
        assert len(listed_ids(admin_client.get(url, {"q": "GEORGE@example.com"}))) == 1
        assert listed_ids(admin_client.get(url, {"q": "919191"})) == []


class TestSiteAndLandingPage:
    def test_the_admin_carries_the_services_name(self, admin_client):
        response = admin_client.get(reverse("admin:index"))

        assert response.context["site_header"] == "Identity reconciliation"
        assert response.context["site_title"] == "Identity reconciliation"
        assert "Django administration" not in response.content.decode()

    def test_the_identity_pages_come_first_on_the_index(self, admin_client):
        apps = admin_client.get(reverse("admin:index")).context["app_list"]

        assert apps[0]["app_label"] == "contacts"
        assert [model["object_name"] for model in apps[0]["models"][:4]] == [
            "Cluster",
            "Contact",
            "ClusterEvent",
            "IdentityLink",
        ]
        assert {app["app_label"] for app in apps[1:]} >= {"axes", "auth"}

    def test_view_site_leads_to_the_landing_page(self, admin_client):
        response = admin_client.get(reverse("admin:index"))

        assert response.context["site_url"] == reverse("landing") == "/"

    def test_the_landing_page_points_to_the_docs_the_admin_and_the_health_checks(self, client):
        response = client.get("/")

        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/html")
        page = response.content.decode()
        for path in ["/docs/", "/redoc/", "/api/schema/", "/admin/", "/health/", "/health/ready/"]:
            assert f'href="{path}"' in page
        assert "https://" not in page

    def test_other_unknown_paths_keep_the_apis_json_404(self, client):
        response = client.get("/nothing-here/")

        assert response.status_code == 404
        assert response["Content-Type"].startswith("application/json")


class TestListColumns:
    def test_a_soft_deleted_contact_carries_a_badge_and_its_primary_is_a_number(
        self, admin_client, make_contact
    ):
        primary = make_contact(email="marty@example.com", phone="111")
        deleted = make_contact(email="doc@example.com", phone="111", linked=primary, deleted=True)

        page = admin_client.get(CONTACTS).content.decode()

        assert page.count('class="badge-deleted"') == 1
        contact_page = reverse("admin:contacts_contact_change", args=[deleted.id])
        assert f'<a href="{contact_page}">#{deleted.id}</a>' in page
        assert f'<a href="{cluster_page(primary.id)}">#{primary.id}</a>' in page
        assert f'<a href="{cluster_page(primary.id)}">itself</a>' in page

    def test_a_cluster_is_listed_by_number_with_its_identifiers_counted(
        self, admin_client, make_contact
    ):
        primary = make_contact(email="marty@example.com", phone="111")
        make_contact(email="marty@example.org", phone="111", linked=primary)

        page = admin_client.get(CLUSTERS).content.decode()

        assert f'<a href="{cluster_page(primary.id)}">#{primary.id}</a>' in page
        assert "2 emails, 1 phone" in page
