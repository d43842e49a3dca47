"""``lock_clusters`` and ``write_under_locks`` on PostgreSQL: both kinds of lock in one statement,
in the global order.

Each test holds locks in a transaction of its own thread and connection (the ``holder``) while the
test's own transaction asks for them, as two concurrent requests would.
"""

import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from contacts import locking
from contacts.locking import LocksChanged, identifier_lock_key, lock_clusters, write_under_locks

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

KEY = identifier_lock_key(kind="email", value="new@example.com")
OTHER_KEY = identifier_lock_key(kind="phone", value="+15550001")


@contextmanager
def holder(*, keys: tuple[int, ...] = (), ids: tuple[int, ...] = ()) -> Iterator[None]:
    """Hold ``lock_clusters(keys, ids)`` in another connection's transaction for the block."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                lock_clusters(keys=keys, ids=ids)
                taken.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        held = pool.submit(hold)
        assert taken.wait(timeout=10), held.exception(timeout=0) if held.done() else "no lock"
        try:
            yield
        finally:
            release.set()
            held.result(timeout=30)


def in_other_connection(work: Callable[[], object]) -> object:
    """Run ``work`` in a transaction on a connection of its own and return what it returns."""

    def run() -> object:
        try:
            with transaction.atomic():
                return work()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=30)


def row_is_locked(contact_id: int) -> bool:
    def try_lock() -> bool:
        try:
            lock_clusters(keys=[], ids=[contact_id], wait=False)
        except LocksChanged:
            return True
        return False

    return bool(in_other_connection(try_lock))


def key_is_locked(key: int) -> bool:
    def try_lock() -> bool:
        try:
            lock_clusters(keys=[key], ids=[], wait=False)
        except LocksChanged:
            return True
        return False

    return bool(in_other_connection(try_lock))


def wait_for_an_advisory_lock_wait(*, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.01)
    raise AssertionError("no transaction started waiting for an advisory lock")


def test_both_kinds_are_held_until_the_transaction_ends(make_contact):
    primary = make_contact(email="a@example.com")

    with transaction.atomic():
        lock_clusters(keys=[OTHER_KEY, KEY], ids=[primary.id])

        assert key_is_locked(KEY)
        assert key_is_locked(OTHER_KEY)
        assert row_is_locked(primary.id)

    assert not key_is_locked(KEY)
    assert not row_is_locked(primary.id)


def test_many_identifier_locks_take_several_statements_in_order_rows_last(
    make_contact, monkeypatch
):
    """PostgreSQL allows 1,664 entries in a statement's target list: an erasure of a large
    identity locks its values in chunks."""
    monkeypatch.setattr(locking, "MAX_KEYS_PER_STATEMENT", 2)
    primary = make_contact(email="a@example.com")
    keys = [identifier_lock_key(kind="email", value=f"k{index}@example.com") for index in range(5)]

    with transaction.atomic():
        with CaptureQueriesContext(connection) as statements:
            lock_clusters(keys=keys, ids=[primary.id])

        assert all(key_is_locked(key) for key in keys)
        assert row_is_locked(primary.id)

    sent = [query["sql"] for query in statements.captured_queries]
    assert [sql.count("pg_advisory_xact_lock") for sql in sent] == [2, 2, 1]
    in_order = [
        key for sql in sent for key in map(int, re.findall(r"lock\( ?(-?\d+)::bigint\)", sql))
    ]
    assert in_order == sorted(keys)
    assert [str(primary.id) in sql.split("ANY")[1] for sql in sent] == [False, False, True]


def test_without_waiting_a_held_identifier_raises_and_locks_no_row(make_contact):
    primary = make_contact(email="a@example.com")

    with holder(keys=(KEY,)), transaction.atomic():
        with pytest.raises(LocksChanged):
            lock_clusters(keys=[KEY], ids=[primary.id], wait=False)

        assert not row_is_locked(primary.id)


def test_without_waiting_a_held_primary_raises(make_contact):
    primary = make_contact(email="a@example.com")

    with holder(ids=(primary.id,)), transaction.atomic(), pytest.raises(LocksChanged):
        lock_clusters(keys=[KEY], ids=[primary.id], wait=False)


def test_a_waiting_request_takes_no_row_lock_before_its_identifier_locks(make_contact):
    """The global order: while a request waits for an advisory lock, it holds no row lock, so the
    holder of that advisory lock can still lock the row (a cycle of waits cannot form)."""
    primary = make_contact(email="a@example.com")
    waiting_started = threading.Event()

    def wait_for_both() -> None:
        try:
            with transaction.atomic():
                waiting_started.set()
                lock_clusters(keys=[KEY], ids=[primary.id])
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool, holder(keys=(KEY,)):
        waiter = pool.submit(wait_for_both)
        assert waiting_started.wait(timeout=10)
        wait_for_an_advisory_lock_wait()

        assert not row_is_locked(primary.id)
        assert not waiter.done()

    waiter.result(timeout=10)


def test_a_gone_primary_still_takes_the_identifier_locks():
    with transaction.atomic():
        lock_clusters(keys=[KEY], ids=[987654321])

        assert key_is_locked(KEY)


def test_rows_alone_are_locked_through_select_for_update(make_contact):
    first, second = make_contact(email="a@example.com"), make_contact(email="b@example.com")

    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        lock_clusters(keys=[], ids=[second.id, first.id])

        assert row_is_locked(first.id)
        assert row_is_locked(second.id)
    [statement] = [query["sql"] for query in queries.captured_queries]
    assert re.search(r"ORDER BY .+ ASC FOR NO KEY UPDATE$", statement)
    assert "advisory" not in statement


def test_rows_alone_without_waiting_raise_when_held(make_contact):
    primary = make_contact(email="a@example.com")

    with holder(ids=(primary.id,)), transaction.atomic(), pytest.raises(LocksChanged):
        lock_clusters(keys=[], ids=[primary.id], wait=False)


def test_the_loop_locks_each_plan_before_its_write_and_later_ones_without_waiting(make_contact):
    """A plan that moved onto a cluster locked elsewhere starts the transaction over at once."""
    read, moved_to = make_contact(email="a@example.com"), make_contact(email="b@example.com")
    plans = iter([{read.id}, {moved_to.id}])
    locked_at_write: list[bool] = []

    def write(ids: set[int]) -> None:
        locked_at_write.append(all(row_is_locked(contact_id) for contact_id in ids))

    with holder(ids=(moved_to.id,)), transaction.atomic():
        started = time.monotonic()
        with pytest.raises(LocksChanged):
            write_under_locks(
                plan=lambda: next(plans), locks_needed=lambda ids: (set(), ids), write=write
            )

        assert time.monotonic() - started < 5
    assert locked_at_write == [True]
