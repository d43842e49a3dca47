"""Reads of contacts and clusters, shared by the API, the admin and the commands."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from django.db import connection
from django.db.backends.utils import CursorWrapper
from django.db.models import Aggregate, Count, Max, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from psycopg.types.datetime import TimestamptzLoader

from contacts.explain import Reason, membership_reasons
from contacts.graph import elect_primaries, identifier_nodes
from contacts.models import LIVE, ClusterEvent, Contact, EventKind, IdentityLink
from contacts.normalize import InvalidIdentifier, normalize_email, normalize_phone_number

BIGINT_MAX = 2**63 - 1


class ContactRow(NamedTuple):
    """The columns of a live contact that reconciliation needs; cheaper than a model instance.

    A named tuple, which builds from a database row several times faster than a frozen dataclass:
    a lookup into a cluster of 10,000 contacts builds 10,000 of them.
    """

    id: int
    email: str | None
    phone_number: str | None
    linked_id: int | None
    created_at: datetime

    @property
    def root_id(self) -> int:
        """The id of the primary this contact belongs to (its own id on a primary)."""
        return self.linked_id if self.linked_id is not None else self.id

    @property
    def age_key(self) -> tuple[datetime, int]:
        """Older contacts sort first: ``created_at``, then ``id`` (SPEC §2 invariant 4)."""
        return (self.created_at, self.id)


@dataclass(frozen=True, slots=True)
class ContactState:
    """A contact as it is, deleted or not: what a correction starts from."""

    id: int
    email: str | None
    phone_number: str | None
    linked_id: int | None
    created_at: datetime
    deleted_at: datetime | None

    @property
    def root_id(self) -> int:
        return self.linked_id if self.linked_id is not None else self.id

    @property
    def nodes(self) -> list[tuple[str, str]]:
        return identifier_nodes(email=self.email, phone_number=self.phone_number)

    @property
    def row(self) -> ContactRow:
        """The contact as reconciliation sees it once it is live."""
        return ContactRow(self.id, self.email, self.phone_number, self.linked_id, self.created_at)


def identifiers_filter(*, email: str | None, phone_number: str | None) -> Q:
    """Contacts carrying the email or the phone number, or an identifier a link record pairs with
    one of them (SPEC §3: that edge counts as soon as both are on live contacts); matches nothing
    when both are ``None``."""
    condition = Q(pk__in=[])
    if email is not None:
        condition |= Q(email=email) | Q(
            phone_number__in=IdentityLink.objects.filter(email=email).values("phone_number")
        )
    if phone_number is not None:
        condition |= Q(phone_number=phone_number) | Q(
            email__in=IdentityLink.objects.filter(phone_number=phone_number).values("email")
        )
    return condition


_CONTACTS = Contact._meta.db_table
_LINKS = IdentityLink._meta.db_table

# PostgreSQL: the live contacts of every cluster that holds %(email)s or %(phone_number)s, or an
# identifier that a link record pairs with one of them (identifiers_filter says why). Used by
# ``cluster_rows`` and by the writers that check, in the same statement as their write, that a
# cluster is still what they read.
#
# Written so that its only plan is index look-ups, whatever the planner knows of the table: each
# look-up is an equality on one value inside a LATERAL subquery, so scanning the table instead
# would be paid once per value. The plan is made once per connection and kept (settings:
# plan_cache_mode), possibly while the table is empty and has no statistics; with the look-ups
# ORed together, such a plan read the whole table, or its live partial index, on every request.
PG_CLUSTER_CTE = f"""
    wanted AS (
        SELECT %(email)s::varchar AS email, NULL::varchar AS phone_number
        UNION ALL SELECT NULL, %(phone_number)s::varchar
        UNION ALL SELECT email, NULL FROM {_LINKS} WHERE phone_number = %(phone_number)s::varchar
        UNION ALL SELECT NULL, phone_number FROM {_LINKS} WHERE email = %(email)s::varchar
    ),
    roots AS MATERIALIZED (
        SELECT ARRAY(
            SELECT DISTINCT COALESCE(matched.linked_id, matched.id)
            FROM wanted, LATERAL (
                SELECT id, linked_id FROM {_CONTACTS}
                WHERE deleted_at IS NULL AND email = wanted.email
                UNION ALL
                SELECT id, linked_id FROM {_CONTACTS}
                WHERE deleted_at IS NULL AND phone_number = wanted.phone_number
            ) AS matched
        ) AS ids
    ),
    cluster AS (
        SELECT member.* FROM roots, unnest(roots.ids) AS root(id), LATERAL (
            SELECT * FROM {_CONTACTS} WHERE deleted_at IS NULL AND id = root.id
            UNION ALL
            SELECT * FROM {_CONTACTS}
            WHERE deleted_at IS NULL AND linked_id = root.id AND id <> ALL(roots.ids)
        ) AS member
    )
"""

_PG_CLUSTER_ROWS_SQL = f"""
    WITH {PG_CLUSTER_CTE}
    SELECT id, email, phone_number, linked_id, created_at FROM cluster ORDER BY created_at, id
"""


def load_datetimes_in_c(cursor: CursorWrapper) -> None:
    """Parse ``timestamptz`` values with psycopg's own loader on this cursor.

    Django replaces it, on every connection, with a Python subclass that costs ~10 µs a value:
    most of the time of a lookup into a cluster of 10,000 contacts. psycopg's loader, written in
    C, gives the same aware datetimes in the connection's time zone (UTC, set by Django).
    """
    cursor.cursor.adapters.register_loader("timestamptz", TimestamptzLoader)


def cluster_rows(*, email: str | None, phone_number: str | None) -> list[ContactRow]:
    """Every live contact of every cluster that holds the email or the phone number, oldest first.

    One SQL statement, whatever the size of the clusters; plain rows, no model instances. On
    PostgreSQL, where it is the hot path of ``/identify/``, the statement is written by hand.
    """
    if connection.vendor != "postgresql":
        return _cluster_rows_orm(email=email, phone_number=phone_number)
    with connection.cursor() as cursor:
        load_datetimes_in_c(cursor)
        cursor.execute(_PG_CLUSTER_ROWS_SQL, {"email": email, "phone_number": phone_number})
        return list(map(ContactRow._make, cursor.fetchall()))


def _cluster_rows_orm(*, email: str | None, phone_number: str | None) -> list[ContactRow]:
    roots = (
        Contact.live.filter(identifiers_filter(email=email, phone_number=phone_number))
        .annotate(root=Coalesce("linked_id", "id"))
        .values("root")
    )
    rows = (
        Contact.live.filter(Q(id__in=roots) | Q(linked_id__in=roots))
        .order_by("created_at", "id")
        .values_list("id", "email", "phone_number", "linked_id", "created_at")
    )
    return [ContactRow(*row) for row in rows]


def contact_states(*, contact_ids: list[int]) -> list[ContactState]:
    """Contacts, live or soft-deleted, in the order of ``contact_ids``, in one statement.

    Raises ``Contact.DoesNotExist`` if any of them does not exist.
    """
    by_id = {
        row[0]: ContactState(*row)
        for row in Contact.objects.filter(id__in=contact_ids).values_list(
            "id", "email", "phone_number", "linked_id", "created_at", "deleted_at"
        )
    }
    missing = set(contact_ids) - by_id.keys()
    if missing:
        raise Contact.DoesNotExist(f"no contact with id {min(missing)}")
    return [by_id[contact_id] for contact_id in contact_ids]


def live_contacts_by_age(
    *, chunk_size: int
) -> Iterator[tuple[int, str | None, str | None, int | None]]:
    """Every live contact as ``(id, email, phone_number, linked_id)``, oldest first, streamed.

    A server-side cursor on PostgreSQL: memory stays at ``chunk_size`` rows whatever the table.
    The age order (``created_at``, then ``id``) lets a whole-table pass elect the oldest contact of
    a component without reading ``created_at`` at all.
    """
    return (
        Contact.live.order_by("created_at", "id")
        .values_list("id", "email", "phone_number", "linked_id")
        .iterator(chunk_size=chunk_size)
    )


def identity_link_pairs(*, chunk_size: int) -> Iterator[tuple[str, str]]:
    """Every link record as ``(email, phone_number)``, streamed."""
    return (
        IdentityLink.objects.order_by()
        .values_list("email", "phone_number")
        .iterator(chunk_size=chunk_size)
    )


def _nodes_filter(nodes: set[tuple[str, str]], *, email_field: str, phone_field: str) -> Q:
    emails = [value for kind, value in nodes if kind == "email"]
    phones = [value for kind, value in nodes if kind == "phone"]
    return Q(**{f"{email_field}__in": emails}) | Q(**{f"{phone_field}__in": phones})


def neighbourhood_rows(
    *, root_ids: set[int], nodes: set[tuple[str, str]]
) -> tuple[list[ContactRow], list[tuple[str, str]]]:
    """Live contacts of the given clusters, and of every cluster linked to them, oldest first.

    Starting from the clusters rooted at ``root_ids`` and the contacts carrying ``nodes``, follows
    shared identifiers and link records until nothing new is reached; returns the contacts and the
    link records among their identifiers. What a correction must reconcile (SPEC §3).
    """
    roots, reached = set(root_ids), set(nodes)
    while True:
        rows = [
            ContactRow(*row)
            for row in Contact.live.filter(
                Q(id__in=roots)
                | Q(linked_id__in=roots)
                | _nodes_filter(reached, email_field="email", phone_field="phone_number")
            )
            .order_by("created_at", "id")
            .values_list("id", "email", "phone_number", "linked_id", "created_at")
        ]
        row_nodes = {
            node
            for row in rows
            for node in identifier_nodes(email=row.email, phone_number=row.phone_number)
        }
        links = list(
            IdentityLink.objects.filter(
                _nodes_filter(row_nodes, email_field="email", phone_field="phone_number")
            ).values_list("email", "phone_number")
        )
        link_nodes = {
            node for email, phone in links for node in (("email", email), ("phone", phone))
        }
        new_roots = {row.root_id for row in rows}
        if new_roots <= roots and (row_nodes | link_nodes) <= reached:
            return rows, links
        roots |= new_roots
        reached |= row_nodes | link_nodes


# --- Reads for the admin --------------------------------------------------------------------------


def contact_search_filter(*, term: str) -> Q:
    """Contacts whose id is ``term``, or live ones whose email or phone number is ``term``.

    ``term`` is normalized as the API normalizes identifiers, then matched exactly, so every branch
    is an index look-up however many contacts there are. Matches nothing when ``term`` is no id,
    email or phone number.
    """
    text = term.strip()
    condition = Q(pk__in=[])
    if text.isdigit() and int(text) <= BIGINT_MAX:
        condition |= Q(id=int(text))
    return condition | (LIVE & identifier_search_filter(term=text))


def identifier_search_filter(*, term: str) -> Q:
    """Contacts or link records whose email or phone number is ``term`` as the API stores it."""
    condition = Q(pk__in=[])
    for normalize, field in ((normalize_email, "email"), (normalize_phone_number, "phone_number")):
        try:
            value = normalize(term)
        except InvalidIdentifier:
            continue
        if value is not None:
            condition |= Q(**{field: value})
    return condition


def cluster_ids_matching(*, term: str) -> QuerySet:
    """Ids of the primaries of the clusters holding the live contact that ``term`` finds."""
    return (
        Contact.live.filter(contact_search_filter(term=term))
        .annotate(root=Coalesce("linked_id", "id"))
        .values("root")
    )


def _over_cluster(aggregate: Aggregate, *, root: str) -> Subquery:
    """``aggregate`` over the live contacts of the cluster whose primary id is column ``root``."""
    members = Contact.live.filter(Q(id=OuterRef(root)) | Q(linked_id=OuterRef(root))).order_by()
    return Subquery(
        members.annotate(cluster=Value(1))
        .values("cluster")
        .annotate(value=aggregate)
        .values("value")
    )


def contacts_with_cluster_size(*, queryset: QuerySet) -> QuerySet:
    """Annotate each contact with ``cluster_size``: the live contacts of the cluster it links to."""
    return queryset.annotate(root=Coalesce("linked_id", "id")).annotate(
        cluster_size=Coalesce(_over_cluster(Count("id"), root="root"), 0)
    )


def clusters_with_summary(*, queryset: QuerySet) -> QuerySet:
    """Annotate primaries with the size of their cluster, its distinct emails and phone numbers,
    and its last activity (the latest change to any of its live contacts)."""
    return queryset.annotate(
        contact_count=_over_cluster(Count("id"), root="id"),
        email_count=_over_cluster(Count("email", distinct=True), root="id"),
        phone_count=_over_cluster(Count("phone_number", distinct=True), root="id"),
        last_activity=_over_cluster(Max("updated_at"), root="id"),
    )


@dataclass(frozen=True)
class ClusterDetail:
    """Everything the cluster page shows: who is in a cluster, why, and how it came about."""

    primary: Contact
    members: list[Contact]
    """Live contacts, the primary first, then oldest first."""
    emails: list[str]
    phone_numbers: list[str]
    links: list[IdentityLink]
    """Link records among the cluster's identifiers: requests that bridged two clusters."""
    reasons: dict[int, Reason]
    events: list[ClusterEvent]
    """The history of every contact of the cluster, newest first."""
    deleted: list[Contact]
    """Soft-deleted contacts whose deletion the history of this cluster records."""

    @property
    def explained_members(self) -> list[tuple[Contact, Reason]]:
        return [(member, self.reasons[member.id]) for member in self.members]


def cluster_detail(*, primary_id: int) -> ClusterDetail:
    """The cluster led by the live primary ``primary_id``; raises ``Contact.DoesNotExist``."""
    members = list(
        Contact.live.filter(Q(id=primary_id) | Q(linked_id=primary_id)).order_by("created_at", "id")
    )
    primary = next((member for member in members if member.id == primary_id), None)
    if primary is None or not primary.is_primary:
        raise Contact.DoesNotExist(f"no live primary contact {primary_id}")
    members = [primary, *(member for member in members if member.id != primary_id)]
    emails = list(dict.fromkeys(member.email for member in members if member.email))
    phone_numbers = list(
        dict.fromkeys(member.phone_number for member in members if member.phone_number)
    )
    links = list(IdentityLink.objects.filter(email__in=emails, phone_number__in=phone_numbers))
    member_ids = [member.id for member in members]
    events = list(
        ClusterEvent.objects.filter(Q(contact_id__in=member_ids) | Q(primary_id__in=member_ids))
        .select_related("user")
        .order_by("-created_at", "-id")
    )
    deleted_ids = {event.contact_id for event in events if event.kind == EventKind.DELETED}
    return ClusterDetail(
        primary=primary,
        members=members,
        emails=emails,
        phone_numbers=phone_numbers,
        links=links,
        reasons=membership_reasons(contacts=members, links=links, primary_id=primary_id),
        events=events,
        deleted=list(Contact.objects.filter(id__in=deleted_ids, deleted_at__isnull=False)),
    )


def soft_delete_preview(*, contact_id: int) -> list[list[int]]:
    """The clusters the rest of a live contact's cluster would form once it is soft-deleted.

    Each cluster is a list of contact ids, its primary (the oldest) first. Deleting only removes
    edges from the graph, so the parts stay within the contact's own cluster.
    """
    contact = Contact.live.get(id=contact_id)
    root = contact.linked_id or contact.id
    rest = [
        ContactRow(*row)
        for row in Contact.live.filter(Q(id=root) | Q(linked_id=root))
        .exclude(id=contact_id)
        .order_by("created_at", "id")
        .values_list("id", "email", "phone_number", "linked_id", "created_at")
    ]
    links = IdentityLink.objects.filter(
        email__in={row.email for row in rest if row.email},
        phone_number__in={row.phone_number for row in rest if row.phone_number},
    ).values_list("email", "phone_number")
    return _parts(rows=rest, elected=elect_primaries(contacts=rest, links=links))


def restore_preview(*, contact_id: int) -> list[int]:
    """The cluster a soft-deleted contact would be in once restored: ids, its primary first."""
    [state] = contact_states(contact_ids=[contact_id])
    rows, links = neighbourhood_rows(root_ids=set(), nodes=set(state.nodes))
    rows = [*rows, state.row]
    elected = elect_primaries(contacts=rows, links=links)
    return next(part for part in _parts(rows=rows, elected=elected) if state.id in part)


def _parts(*, rows: list[ContactRow], elected: dict[int, int]) -> list[list[int]]:
    parts: dict[int, list[int]] = {}
    for row in sorted(rows, key=lambda row: row.age_key):
        parts.setdefault(elected[row.id], []).append(row.id)
    return list(parts.values())
