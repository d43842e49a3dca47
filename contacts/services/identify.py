"""``POST /identify/``: link an email and/or phone number into its identity (SPEC §4, §5).

``contact_identify`` first reads the matched clusters without a transaction: most requests only
look up an identity and are answered from that one statement. A request that must write runs a
transaction that locks what it will change and applies the rules only to clusters that are, under
the locks, what it read. The protocol is in docs/concurrency.md.
"""

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.db.models.functions import Now

from contacts.database import (
    TABLE_GROWTH_COLUMNS,
    TableGrowth,
    statistics_follow_growth,
)
from contacts.locking import (
    MAX_LOCK_ROUNDS,
    LocksChanged,
    identifier_lock_key,
    lock_clusters,
    run_with_retries,
    uses_row_locks,
    write_turn,
)
from contacts.models import (
    ClusterEvent,
    Contact,
    EventKind,
    IdentityLink,
    LinkPrecedence,
    Source,
)
from contacts.rows import ContactRow
from contacts.rules import (
    IdentifyPlan,
    Outcome,
    plan_identify,
)
from contacts.selectors.clusters import (
    PG_CLUSTER_CTE,
    cluster_rows,
    load_datetimes_in_c,
)


@dataclass(frozen=True)
class Identity:
    """The consolidated identity an ``/identify/`` request answers with (SPEC §4)."""

    primary_id: int
    emails: list[str]
    phone_numbers: list[str]
    secondary_ids: list[int]
    outcome: Outcome


def contact_identify(
    *, email: str | None, phone_number: str | None, source: Source = Source.API
) -> Identity:
    """Link a normalized email and/or phone number into its identity and return that identity.

    Must be called outside a transaction: it owns its transaction so that it can run it again after
    a lost race, a deadlock or a lost connection (running it twice is harmless: it is idempotent).
    """
    if email is None and phone_number is None:
        raise ValueError("contact_identify needs an email or a phone number")
    return run_with_retries(
        lambda attempt: _identify(email=email, phone_number=phone_number, source=source),
        attempts=settings.IDENTIFY_MAX_ATTEMPTS,
    )


def _identify(*, email: str | None, phone_number: str | None, source: Source) -> Identity:
    """Answer from one unlocked read when nothing is to be written; else lock, check and write."""
    plan = _plan(email=email, phone_number=phone_number)
    if not plan.writes:
        return identity_from_rows(rows=plan.rows, primary_id=plan.primary.id, outcome=plan.outcome)
    return _identify_locked(email=email, phone_number=phone_number, source=source, hint=plan)


def _plan(*, email: str | None, phone_number: str | None) -> IdentifyPlan:
    rows = cluster_rows(email=email, phone_number=phone_number)
    return plan_identify(rows=rows, email=email, phone_number=phone_number)


def _locks_needed(plan: IdentifyPlan) -> tuple[set[int], set[int]]:
    """Advisory lock keys of the identifiers the plan creates, and the primaries it changes."""
    keys = {identifier_lock_key(kind=kind, value=value) for kind, value in plan.new_identifiers}
    return keys, set(plan.cluster_ids) if plan.writes else set()


def _identify_locked(
    *, email: str | None, phone_number: str | None, source: Source, hint: IdentifyPlan
) -> Identity:
    """Lock what the request will change, and apply the plan if the clusters are still as read.

    The first locks are taken in the global order and may wait. On PostgreSQL the write is one
    statement that re-reads the clusters and writes only if they are unchanged; if they moved, the
    transaction reads them again, takes what the new plan adds without waiting (or starts over),
    and tries again (docs/concurrency.md).
    """
    with write_turn(), transaction.atomic():
        if not uses_row_locks():
            # BEGIN IMMEDIATE holds the whole database: read again, then write.
            return _apply(plan=_plan(email=email, phone_number=phone_number), source=source)
        plan = hint
        held_keys: set[int] = set()
        held_ids: set[int] = set()
        for round_ in range(MAX_LOCK_ROUNDS):
            if not plan.writes:
                return identity_from_rows(
                    rows=plan.rows, primary_id=plan.primary.id, outcome=plan.outcome
                )
            keys, ids = _locks_needed(plan)
            lock_clusters(keys=keys - held_keys, ids=ids - held_ids, wait=round_ == 0)
            held_keys |= keys
            held_ids |= ids
            identity = _apply_if_unchanged(plan=plan, source=source)
            if identity is not None:
                return identity
            plan = _plan(email=email, phone_number=phone_number)
        raise LocksChanged(f"clusters of {email!r} / {phone_number!r} kept changing")


# One statement that checks, with a snapshot taken after the locks are held, that the matched
# clusters are still exactly the rows the plan was made from, and only then writes the plan and its
# history (as _record_identify_events does on SQLite): the re-read under the locks, the writes and
# the history share one round trip, and nothing is read back.
_APPLY_IF_UNCHANGED_SQL = f"""
    WITH {PG_CLUSTER_CTE},
    unchanged AS (
        SELECT COALESCE(
            jsonb_agg(
                jsonb_build_array(
                    id, linked_id, email, phone_number,
                    (EXTRACT(EPOCH FROM created_at) * 1000000)::bigint
                )
                ORDER BY id
            ),
            '[]'
        ) = %(state)s::jsonb AS yes
        FROM cluster
    ),
    relinked AS (
        UPDATE {Contact._meta.db_table}
        SET linked_id = %(primary_id)s::bigint, link_precedence = 'secondary',
            updated_at = STATEMENT_TIMESTAMP()
        WHERE (SELECT yes FROM unchanged)
          AND deleted_at IS NULL
          AND (id = ANY(%(demoted_ids)s::bigint[]) OR linked_id = ANY(%(demoted_ids)s::bigint[]))
          AND id <> %(primary_id)s::bigint
    ),
    promoted AS (
        UPDATE {Contact._meta.db_table}
        SET linked_id = NULL, link_precedence = 'primary', updated_at = STATEMENT_TIMESTAMP()
        WHERE (SELECT yes FROM unchanged)
          AND %(demotes)s AND id = %(primary_id)s::bigint AND linked_id IS NOT NULL
    ),
    observed AS (
        INSERT INTO {IdentityLink._meta.db_table} (email, phone_number, source)
        SELECT %(email)s::varchar, %(phone_number)s::varchar, %(source)s::varchar
        WHERE (SELECT yes FROM unchanged) AND %(stores_link)s
        ON CONFLICT DO NOTHING
    ),
    created AS (
        INSERT INTO {Contact._meta.db_table} (email, phone_number, linked_id, link_precedence)
        SELECT %(email)s::varchar, %(phone_number)s::varchar, %(primary_id)s::bigint,
               %(precedence)s::varchar
        WHERE (SELECT yes FROM unchanged) AND %(creates)s
        RETURNING id, created_at
    ),
    merge_events AS (
        INSERT INTO {ClusterEvent._meta.db_table} (kind, source, contact_id, primary_id, details)
        SELECT %(merged_kind)s::varchar, %(source)s::varchar, loser, %(primary_id)s::bigint,
               jsonb_build_object(
                   'winner', %(primary_id)s::bigint, 'loser', loser, 'request', %(request)s::jsonb
               )
        FROM unnest(%(demoted_ids)s::bigint[]) AS loser
        WHERE (SELECT yes FROM unchanged)
    ),
    creation_event AS (
        INSERT INTO {ClusterEvent._meta.db_table} (kind, source, contact_id, primary_id, details)
        SELECT %(creation_kind)s::varchar, %(source)s::varchar, created.id,
               COALESCE(%(primary_id)s::bigint, created.id),
               jsonb_build_object('request', %(request)s::jsonb)
        FROM created
    )
    SELECT unchanged.yes, created.id, created.created_at, {TABLE_GROWTH_COLUMNS}
    FROM unchanged LEFT JOIN created ON TRUE
"""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# ``ContactRow.age_key`` as a C-level key function.
_BY_AGE = attrgetter("created_at", "id")


def _state(rows: list[ContactRow]) -> str:
    """The rows as ``_APPLY_IF_UNCHANGED_SQL`` aggregates the clusters it reads, for comparison."""
    return json.dumps(
        [
            [
                row.id,
                row.linked_id,
                row.email,
                row.phone_number,
                (row.created_at - _EPOCH) // timedelta(microseconds=1),
            ]
            for row in sorted(rows, key=lambda row: row.id)
        ]
    )


def _apply_if_unchanged(*, plan: IdentifyPlan, source: Source) -> Identity | None:
    """Write what ``plan`` says if its clusters are unchanged; ``None`` (nothing written) if not.

    PostgreSQL only; call with the plan's locks held.
    """
    primary = plan.primary
    params = {
        "email": plan.email,
        "phone_number": plan.phone_number,
        "state": _state(plan.rows),
        "primary_id": primary.id if primary else None,
        "demoted_ids": plan.demoted_ids,
        "demotes": bool(plan.demoted_ids) and primary.linked_id is not None,
        "stores_link": plan.stores_link,
        "source": source.value,
        "creates": plan.creates_contact,
        "precedence": LinkPrecedence.SECONDARY if primary else LinkPrecedence.PRIMARY,
        "request": json.dumps({"email": plan.email, "phone_number": plan.phone_number}),
        "merged_kind": EventKind.MERGED.value,
        "creation_kind": (
            EventKind.SECONDARY_ADDED if primary else EventKind.PRIMARY_CREATED
        ).value,
    }
    with connection.cursor() as cursor:
        load_datetimes_in_c(cursor)
        cursor.execute(_APPLY_IF_UNCHANGED_SQL, params)
        unchanged, new_id, created_at, *growth = cursor.fetchone()
    if not unchanged:
        return None
    if new_id is not None:
        statistics_follow_growth(TableGrowth(*growth))
    return _answer(plan=plan, new_id=new_id, created_at=created_at)


def _apply(*, plan: IdentifyPlan, source: Source) -> Identity:
    """Write what ``plan`` says, under the locks, and build the answer from rows already read."""
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
    return _answer(plan=plan, new_id=new_id, created_at=contact.created_at if contact else None)


def _answer(*, plan: IdentifyPlan, new_id: int | None, created_at: datetime | None) -> Identity:
    """The identity after ``plan`` was written: the rows it was made from, plus the new contact."""
    if new_id is None:
        return identity_from_rows(rows=plan.rows, primary_id=plan.primary.id, outcome=plan.outcome)
    primary_id = plan.primary.id if plan.primary else new_id
    new_row = ContactRow(
        id=new_id,
        email=plan.email,
        phone_number=plan.phone_number,
        linked_id=plan.primary.id if plan.primary else None,
        created_at=created_at,
    )
    return identity_from_rows(
        rows=[*plan.rows, new_row], primary_id=primary_id, outcome=plan.outcome
    )


def _record_identify_events(
    *, plan: IdentifyPlan, new_contact_id: int | None, source: Source
) -> None:
    """The history of what one request changed, in the same transaction."""
    request = {"email": plan.email, "phone_number": plan.phone_number}
    events = [
        ClusterEvent(
            kind=EventKind.MERGED,
            source=source,
            contact_id=demoted_id,
            primary_id=plan.primary.id,
            details={"winner": plan.primary.id, "loser": demoted_id, "request": request},
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


def _merge_into(*, primary: ContactRow, demoted_ids: list[int]) -> None:
    """Link the demoted primaries and every live contact linked to them straight to ``primary``.

    Live only, so that ``linked_id`` is found through its partial index; a soft-deleted contact
    is relinked when it is restored.
    """
    Contact.live.filter(Q(id__in=demoted_ids) | Q(linked_id__in=demoted_ids)).exclude(
        id=primary.id
    ).update(linked_id=primary.id, link_precedence=LinkPrecedence.SECONDARY, updated_at=Now())
    if primary.linked_id is not None:
        Contact.objects.filter(id=primary.id).update(
            linked_id=None, link_precedence=LinkPrecedence.PRIMARY, updated_at=Now()
        )


def identity_from_rows(*, rows: list[ContactRow], primary_id: int, outcome: Outcome) -> Identity:
    """Consolidate the live rows of one cluster: the primary's values first, then by age.

    Written for clusters of thousands of rows: sorting by a C-level key and collecting values with
    list comprehensions takes a fraction of the time of per-row Python calls.
    """
    ordered = sorted(rows, key=_BY_AGE)
    primary = next(row for row in ordered if row.id == primary_id)
    emails = dict.fromkeys([primary.email, *[row.email for row in ordered]])
    phone_numbers = dict.fromkeys([primary.phone_number, *[row.phone_number for row in ordered]])
    emails.pop(None, None)
    phone_numbers.pop(None, None)
    return Identity(
        primary_id=primary_id,
        emails=list(emails),
        phone_numbers=list(phone_numbers),
        secondary_ids=sorted([row.id for row in rows if row.id != primary_id]),
        outcome=outcome,
    )
