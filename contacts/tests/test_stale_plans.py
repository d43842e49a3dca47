"""On PostgreSQL a write checks, in its own statement, that the clusters are still what it read.

``contact_identify`` plans from a read made before its locks; the statement that writes compares the
clusters with that read and writes nothing if they moved (docs/concurrency.md, step 3). These tests
change the clusters between the read and the write, as a concurrent request would.
"""

import pytest

from contacts.models import Contact, IdentityLink, LinkPrecedence, Source
from contacts.rules import Outcome
from contacts.services.identify import _apply_if_unchanged, _plan

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_an_unchanged_cluster_gets_the_planned_secondary(make_contact):
    primary = make_contact(email="a@example.com", phone="1000")
    plan = _plan(email="b@example.com", phone_number="1000")

    identity = _apply_if_unchanged(plan=plan, source=Source.API)

    new = Contact.objects.get(email="b@example.com")
    assert new.linked_id == primary.id
    assert new.link_precedence == LinkPrecedence.SECONDARY
    assert identity.outcome is Outcome.NEW_SECONDARY
    assert identity.primary_id == primary.id
    assert identity.emails == ["a@example.com", "b@example.com"]
    assert identity.secondary_ids == [new.id]


def test_a_secondary_added_since_the_read_stops_the_write(make_contact):
    primary = make_contact(email="a@example.com", phone="1000")
    plan = _plan(email="b@example.com", phone_number="1000")
    make_contact(email="b@example.com", phone="1000", linked=primary)

    assert _apply_if_unchanged(plan=plan, source=Source.API) is None

    assert Contact.objects.filter(email="b@example.com").count() == 1


def test_a_contact_created_since_the_read_stops_a_new_primary(make_contact):
    plan = _plan(email="new@example.com", phone_number="2000")
    make_contact(email="other@example.com", phone="2000")

    assert _apply_if_unchanged(plan=plan, source=Source.API) is None

    assert not Contact.objects.filter(email="new@example.com").exists()


def test_a_cluster_changed_since_the_read_stops_the_merge(make_contact):
    older = make_contact(email="a@example.com", phone="1000")
    newer = make_contact(email="b@example.com", phone="2000")
    plan = _plan(email="a@example.com", phone_number="2000")
    assert plan.outcome is Outcome.MERGE
    make_contact(email="c@example.com", phone="2000", linked=newer)

    assert _apply_if_unchanged(plan=plan, source=Source.API) is None

    newer.refresh_from_db()
    assert newer.link_precedence == LinkPrecedence.PRIMARY
    assert not IdentityLink.objects.exists()
    assert older.secondaries.count() == 0


def test_an_unchanged_pair_of_clusters_is_merged_into_the_older(make_contact):
    older = make_contact(email="a@example.com", phone="1000")
    newer = make_contact(email="b@example.com", phone="2000")
    plan = _plan(email="a@example.com", phone_number="2000")

    identity = _apply_if_unchanged(plan=plan, source=Source.API)

    newer.refresh_from_db()
    assert newer.linked_id == older.id
    assert newer.link_precedence == LinkPrecedence.SECONDARY
    assert IdentityLink.objects.filter(email="a@example.com", phone_number="2000").exists()
    assert identity.primary_id == older.id
    assert identity.phone_numbers == ["1000", "2000"]
    assert identity.secondary_ids == [newer.id]
