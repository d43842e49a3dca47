"""SQLite: the ORM for every write, one hand-written statement for ``/identify/``'s read, and
writers that take turns.

A write transaction holds the whole database from its ``BEGIN IMMEDIATE`` (settings), so nothing
here takes row or identifier locks: reading again after ``BEGIN`` is reading under the lock.
"""

import fcntl
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from django.conf import settings
from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Max, Model, Q
from django.db.models.functions import Now

from contacts.db.base import Applied, ClusterRead, DatabaseBackend, identify_request
from contacts.models import (
    ClusterEvent,
    Contact,
    EventKind,
    GovernanceVersion,
    IdentityLink,
    LinkPrecedence,
    Source,
)
from contacts.rows import ContactRow
from contacts.rules import IdentifyPlan
from contacts.rules.events import Horizon

# One writer at a time per process (a thread lock), then per database (a file lock).
_PROCESS_WRITER = threading.Lock()
_WRITER_FILES: dict[str, int] = {}
_TURN_POLL_SECONDS = 0.001

_CONTACTS = Contact._meta.db_table
_LINKS = IdentityLink._meta.db_table

# The live contacts of every cluster that holds :match_email or :match_phone_number (the request's
# values that are not blocked), or an identifier that a link record that is not blocked pairs with
# one of them (SPEC §3: that edge counts as soon as both identifiers are on live contacts), oldest
# first, after a first row that carries the governance token (docs/governance.md) in its email
# column (its id and created_at are NULL, so it sorts first): the same rows as PostgreSQL's
# ``CLUSTER_ROWS_SQL``. Every step is an equality on an indexed column, kept apart by UNION:
# SQLite reads the whole table for look-ups ORed together, and Django's compiler takes longer to
# build this statement from querysets than SQLite takes to run it.
_CLUSTER_ROWS_SQL = f"""
    WITH wanted(email, phone_number) AS (
        SELECT :match_email, NULL
        UNION ALL SELECT NULL, :match_phone_number
        UNION ALL SELECT email, NULL FROM {_LINKS}
        WHERE phone_number = :match_phone_number AND NOT blocked
        UNION ALL SELECT NULL, phone_number FROM {_LINKS}
        WHERE email = :match_email AND NOT blocked
    ),
    roots(id) AS (
        SELECT COALESCE(linked_id, id) FROM {_CONTACTS}
        WHERE deleted_at IS NULL AND email IN (SELECT email FROM wanted)
        UNION
        SELECT COALESCE(linked_id, id) FROM {_CONTACTS}
        WHERE deleted_at IS NULL AND phone_number IN (SELECT phone_number FROM wanted)
    )
    SELECT NULL, COALESCE((SELECT token FROM {GovernanceVersion._meta.db_table} WHERE id = 1), 0),
           NULL, NULL, NULL
    UNION ALL
    SELECT id, email, phone_number, linked_id, created_at
    FROM {_CONTACTS} WHERE deleted_at IS NULL AND id IN roots
    UNION
    SELECT id, email, phone_number, linked_id, created_at
    FROM {_CONTACTS} WHERE deleted_at IS NULL AND linked_id IN roots
    ORDER BY 5, 1
"""


class SQLiteBackend(DatabaseBackend):
    row_locks = False

    # --- POST /identify/ --------------------------------------------------------------------------

    def cluster_rows(self, *, email: str | None, phone_number: str | None) -> ClusterRead:
        """One statement (``_CLUSTER_ROWS_SQL``)."""
        connection = self.connection
        with connection.cursor() as cursor:
            cursor.execute(
                _CLUSTER_ROWS_SQL, {"match_email": email, "match_phone_number": phone_number}
            )
            (_, token, *_), *read = cursor.fetchall()
        to_datetime = connection.ops.convert_datetimefield_value
        return ClusterRead(
            rows=[ContactRow(*row[:4], to_datetime(row[4], None, connection)) for row in read],
            governance_token=token,
        )

    def apply_if_unchanged(self, *, plan: IdentifyPlan, source: Source) -> Applied | None:
        """Read the clusters again (under the database's lock, after ``BEGIN IMMEDIATE``) and, if
        they are the plan's rows (both reads are ordered by age, then id) under the same governance
        decisions, write with the ORM."""
        read = self.cluster_rows(email=plan.match_email, phone_number=plan.match_phone_number)
        if read != (plan.rows, plan.policy_token):
            return None
        primary = plan.primary
        contact = None
        if primary is not None and plan.demoted_ids:
            _merge_into(primary=primary, demoted_ids=plan.demoted_ids)
        if plan.stores_link:
            IdentityLink.objects.bulk_create(
                [IdentityLink(email=plan.email, phone_number=plan.phone_number, source=source)],
                ignore_conflicts=True,
            )
        if plan.creates_contact:
            contact = Contact.objects.create(
                email=plan.email,
                phone_number=plan.phone_number,
                linked_id=primary.id if primary else None,
                link_precedence=LinkPrecedence.SECONDARY if primary else LinkPrecedence.PRIMARY,
            )
        new_id = contact.id if contact else None
        _record_identify_events(plan=plan, new_contact_id=new_id, source=source)
        return Applied(new_id=new_id, created_at=contact.created_at if contact else None)

    @contextmanager
    def write_turn(self) -> Iterator[None]:
        """Wait for a turn to write before asking for the database's write lock.

        SQLite's busy handler polls its lock with sleeps that grow to 100 ms, so among many
        waiting writers some get through at once while others wait for seconds, up to the busy
        timeout. Here the threads of a process queue on a thread lock, and the processes on a file
        lock beside the database, polled every millisecond: every writer waits about as long as
        the writers ahead of it take. The wait is bounded by ``SQLITE_BUSY_TIMEOUT``.
        """
        deadline = time.monotonic() + settings.SQLITE_BUSY_TIMEOUT
        if not _PROCESS_WRITER.acquire(timeout=settings.SQLITE_BUSY_TIMEOUT):
            raise _no_turn()
        try:
            path = self._writer_turn_path()
            if path is None:
                yield
                return
            descriptor = _writer_descriptor(path)
            while not _try_flock(descriptor):
                if time.monotonic() >= deadline:
                    raise _no_turn()
                time.sleep(_TURN_POLL_SECONDS)
            try:
                yield
            finally:
                fcntl.flock(descriptor, fcntl.LOCK_UN)
        finally:
            _PROCESS_WRITER.release()

    def _writer_turn_path(self) -> str | None:
        """The file whose lock is the turn to write, beside the database; ``None`` for a database
        in memory, which no other process can open."""
        if self.connection.is_in_memory_db():
            return None
        return f"{self.connection.settings_dict['NAME']}.writer-turn"

    # --- Bulk work --------------------------------------------------------------------------------

    def lock_contacts_table(self) -> None:
        """Nothing to take: ``BEGIN IMMEDIATE`` holds the database already."""

    def reserve_contact_ids(self, *, count: int) -> list[int]:
        """The transaction holds the database, so the ids after the highest one are free."""
        start = (Contact.objects.aggregate(highest=Max("id"))["highest"] or 0) + 1
        return list(range(start, start + count))

    def bulk_insert(
        self, *, model: type[Model], fields: list[str], rows: Iterable[tuple], batch_size: int
    ) -> None:
        model.objects.bulk_create(
            (model(**dict(zip(fields, row, strict=True))) for row in rows), batch_size=batch_size
        )

    def record_import_history(
        self,
        *,
        contact_ids: list[int],
        linked_ids: Sequence[int],
        label: str,
        now: datetime,
        batch_size: int,
    ) -> None:
        members: dict[int, list[int]] = {}
        for contact_id, linked_id in zip(contact_ids, linked_ids, strict=True):
            members.setdefault(linked_id or contact_id, []).append(contact_id)
        ClusterEvent.objects.bulk_create(
            (
                ClusterEvent(
                    kind=EventKind.PRIMARY_CREATED if root == ids[0] else EventKind.SECONDARY_ADDED,
                    source=Source.COMMAND,
                    contact_id=ids[0],
                    primary_id=root,
                    details={"import": label, "contacts": ids},
                    created_at=now,
                )
                for root, ids in members.items()
            ),
            batch_size=batch_size,
        )

    # --- Sessions: SQLite has no statement timeouts, plan caches or statistics to keep ------------

    @contextmanager
    def operator_session(self) -> Iterator[None]:
        yield

    def session_settings_missing(self) -> dict[str, tuple[str, str]]:
        return {}

    def role_settings_apply(self) -> list[str]:
        return []

    def statement_functions_install(self) -> None:
        """None: SQLite is sent its statements as they are."""

    def statement_functions_missing(self) -> list[str]:
        return []

    def history_horizon(self) -> tuple[int, Horizon | None]:
        """No horizon: the caller's ``BEGIN IMMEDIATE`` holds every other writer off."""
        last_id = ClusterEvent.objects.aggregate(last=Max("id"))["last"]
        return last_id or 0, None

    def plans_for_values(self) -> None:
        pass

    def tables_analyze(self, *, models: list[type[Model]]) -> None:
        pass

    def connection_created(self, connection: BaseDatabaseWrapper) -> None:
        pass


def _merge_into(*, primary: ContactRow, demoted_ids: list[int]) -> None:
    """Link the demoted primaries and every live contact linked to them straight to ``primary``.

    Live only, as on PostgreSQL; a soft-deleted contact is relinked when it is restored. The
    demoted primaries and their secondaries are two updates: SQLite reads the whole table for the
    two look-ups ORed together.
    """
    for demoted in (Q(id__in=demoted_ids), Q(linked_id__in=demoted_ids)):
        Contact.live.filter(demoted).exclude(id=primary.id).update(
            linked_id=primary.id, link_precedence=LinkPrecedence.SECONDARY, updated_at=Now()
        )
    if primary.linked_id is not None:
        Contact.objects.filter(id=primary.id).update(
            linked_id=None, link_precedence=LinkPrecedence.PRIMARY, updated_at=Now()
        )


def _record_identify_events(
    *, plan: IdentifyPlan, new_contact_id: int | None, source: Source
) -> None:
    """The history of what one request changed, in the same transaction."""
    request = identify_request(plan=plan)
    bridged_by = plan.bridged_by
    events = [
        ClusterEvent(
            kind=EventKind.MERGED,
            source=source,
            contact_id=demoted_id,
            primary_id=plan.primary.id,
            details={
                "winner": plan.primary.id,
                "loser": demoted_id,
                "request": request,
                "bridged_by": bridged_by[demoted_id],
            },
        )
        for demoted_id in plan.demoted_ids
    ]
    if new_contact_id is not None:
        primary_id = plan.primary.id if plan.primary else new_contact_id
        events.append(
            ClusterEvent(
                kind=EventKind.SECONDARY_ADDED if plan.primary else EventKind.PRIMARY_CREATED,
                source=source,
                contact_id=new_contact_id,
                primary_id=primary_id,
                details={"request": request},
            )
        )
    ClusterEvent.objects.bulk_create(events)


def _writer_descriptor(path: str) -> int:
    """The open file of ``path``, opened once per process (callers hold ``_PROCESS_WRITER``)."""
    if path not in _WRITER_FILES:
        _WRITER_FILES[path] = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    return _WRITER_FILES[path]


def _try_flock(descriptor: int) -> bool:
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _no_turn() -> OperationalError:
    return OperationalError("database is locked: no turn to write within SQLITE_BUSY_TIMEOUT")
