"""Reads for the support staff's admin pages: search, cluster summaries, a cluster's page, and
what a soft delete or a restore would do."""

from dataclasses import dataclass, fields

from django.db.models import Aggregate, Count, Max, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from contacts.graph import elect_primaries
from contacts.models import LIVE, ClusterEvent, Contact, EventKind, IdentityLink
from contacts.normalize import (
    InvalidIdentifier,
    normalize_email,
    normalize_phone_number,
    parse_row_id,
    without_invisible,
)
from contacts.rows import ContactRow
from contacts.selectors.clusters import contact_states, neighbourhood_rows
from contacts.selectors.identities import ClusterMembers, cluster_history, cluster_members


def contact_search_filter(*, term: str) -> Q:
    """Contacts whose id is ``term``, or live ones whose email or phone number is ``term``.

    ``term`` is normalized as the API normalizes identifiers, then matched exactly, so every branch
    is an index look-up however many contacts there are. Matches nothing when ``term`` is no id,
    email or phone number.
    """
    text = term.strip()
    condition = Q(pk__in=[])
    if (contact_id := parse_row_id(text)) is not None:
        condition |= Q(id=contact_id)
    return condition | (LIVE & identifier_search_filter(term=text))


def identifier_search_filter(*, term: str) -> Q:
    """Contacts or link records whose email or phone number is ``term`` as the API stores it.

    Invisible characters are dropped rather than refused: a value pasted from a ticket or a
    spreadsheet often carries one, and no stored value does.
    """
    condition = Q(pk__in=[])
    visible = without_invisible(term)
    for normalize, field in ((normalize_email, "email"), (normalize_phone_number, "phone_number")):
        try:
            value = normalize(visible)
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
class ClusterDetail(ClusterMembers):
    """Everything the cluster page shows: who is in a cluster, why, and how it came about."""

    events: list[ClusterEvent]
    """The history of every contact of the cluster, newest first."""
    deleted: list[Contact]
    """Soft-deleted contacts whose deletion the history of this cluster records."""


def cluster_detail(*, primary_id: int) -> ClusterDetail:
    """The cluster led by the live primary ``primary_id``; raises ``Contact.DoesNotExist``."""
    cluster = cluster_members(primary_id=primary_id)
    events = list(
        cluster_history(member_ids=[member.id for member in cluster.members])
        .select_related("user")
        .order_by("-created_at", "-id")
    )
    deleted_ids = {event.contact_id for event in events if event.kind == EventKind.DELETED}
    return ClusterDetail(
        **{field.name: getattr(cluster, field.name) for field in fields(ClusterMembers)},
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
