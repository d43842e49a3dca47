"""Where reads go when a read replica is configured (``contacts.db.routing``), decided without
one: a real streaming standby is in test_replica.py (make test-replica)."""

import pytest
from django.contrib.auth.models import User
from django.db import DEFAULT_DB_ALIAS, transaction
from django.http import HttpResponse
from django.test import RequestFactory

from contacts.db import routing
from contacts.db.routing import REPLICA, ReplicaRouter, ReplicaStatus
from contacts.models import Contact

router = ReplicaRouter()


@pytest.fixture
def replica_usable(monkeypatch) -> None:
    """What a process sees of a replica within ``REPLICA_MAX_LAG``."""
    monkeypatch.setattr(
        routing, "replica_status", lambda **kwargs: ReplicaStatus(state="ok", lag=0)
    )


def reading(alias: str):
    """Run the router's read decision as ``replica_reads()`` has set it up."""
    token = routing._reads.set(alias)
    try:
        return router.db_for_read(Contact), router.db_for_read(User)
    finally:
        routing._reads.reset(token)


class TestRouter:
    def test_only_the_contacts_app_reads_from_the_replica_when_asked(self):
        assert reading(REPLICA) == (REPLICA, DEFAULT_DB_ALIAS)
        assert reading(DEFAULT_DB_ALIAS) == (DEFAULT_DB_ALIAS, DEFAULT_DB_ALIAS)
        assert router.db_for_read(Contact) == DEFAULT_DB_ALIAS

    @pytest.mark.django_db
    def test_a_read_inside_a_transaction_on_the_primary_stays_there(self):
        with transaction.atomic():
            assert reading(REPLICA) == (DEFAULT_DB_ALIAS, DEFAULT_DB_ALIAS)

    def test_every_write_and_every_migration_goes_to_the_primary(self):
        replica_row = Contact(id=1)
        replica_row._state.db = REPLICA

        assert router.db_for_write(Contact, instance=replica_row) == DEFAULT_DB_ALIAS
        assert router.allow_migrate(DEFAULT_DB_ALIAS, "contacts")
        assert not router.allow_migrate(REPLICA, "contacts")


class TestReadsFromReplica:
    def test_without_a_replica_everything_reads_the_primary(self):
        with routing.replica_reads() as alias:
            assert alias == DEFAULT_DB_ALIAS
            assert router.db_for_read(Contact) == DEFAULT_DB_ALIAS

    @pytest.mark.usefixtures("replica_usable")
    def test_a_view_reads_the_replica_unless_its_reader_just_made_a_change(self):
        seen = []

        @routing.reads_from_replica
        def view(request):
            seen.append(router.db_for_read(Contact))
            return HttpResponse()

        view(RequestFactory().get("/"))
        pinned = RequestFactory().get("/")
        pinned.COOKIES[routing.PRIMARY_PIN_COOKIE] = "1"
        view(pinned)

        assert seen == [REPLICA, DEFAULT_DB_ALIAS]
        assert router.db_for_read(Contact) == DEFAULT_DB_ALIAS

    def test_a_change_pins_for_the_lag_limit_and_the_time_a_look_is_trusted(self, settings):
        settings.REPLICA_MAX_LAG = 2.5
        response = HttpResponse()

        routing.pin_to_primary(response)

        cookie = response.cookies[routing.PRIMARY_PIN_COOKIE]
        assert cookie["max-age"] == 4
        assert cookie["httponly"]
