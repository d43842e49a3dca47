"""Read-only checks of the stored links against SPEC §3's graph (``manage.py reconcile``)."""

from array import array
from collections.abc import Callable
from dataclasses import dataclass
from itertools import compress

from django.conf import settings
from django.db.models import Q

from contacts.governance import Policy
from contacts.graph import ContactGraph, identifier_nodes
from contacts.models import Contact, IdentityLink
from contacts.normalize import INTERNATIONAL_PREFIX, canonical_identifiers
from contacts.rules import (
    plan_relinks,
)
from contacts.selectors.clusters import (
    contact_states,
    identity_link_pairs,
    live_contacts_by_age,
    neighbourhood_rows,
)
from contacts.selectors.governance import current_policy, governance_token

Progress = Callable[[int], object]
"""Told how many more rows were processed; the commands pass a progress bar's ``update``."""


def no_progress(count: int) -> None:
    """The default ``Progress``: report nothing."""


@dataclass(frozen=True, slots=True)
class Relink:
    """A live contact whose stored link differs from SPEC §3's graph; ``None`` means primary."""

    contact_id: int
    stored_linked_id: int | None
    linked_id: int | None


@dataclass(frozen=True)
class GraphCheck:
    """What a comparison of the stored links with the graph rebuilt from stored rows found."""

    contacts: int
    components: int
    relinks: list[Relink]
    oversized: int = 0
    """Components past their size limit: not a difference (a limit depends on arrival order and
    a person may approve past it, docs/governance.md), reported for information."""


def stored_policy() -> Policy:
    """The governance decisions stored now: what a rebuild applies (docs/governance.md)."""
    return current_policy(token=governance_token())


def contact_graph_load(
    *, chunk_size: int, policy: Policy, progress: Progress = no_progress
) -> ContactGraph:
    """SPEC §3's graph of every live contact and link record, streamed into compact arrays; the
    values ``policy`` blocks are not nodes."""
    graph = ContactGraph(blocklist=policy.blocklist)
    rows = live_contacts_by_age(chunk_size=chunk_size)
    for count, (contact_id, email, phone_number, linked_id) in enumerate(rows, start=1):
        graph.add_contact(
            contact_id=contact_id, email=email, phone_number=phone_number, linked_id=linked_id
        )
        if count % chunk_size == 0:
            progress(chunk_size)
    progress(len(graph) % chunk_size)
    for email, phone_number in identity_link_pairs(chunk_size=chunk_size):
        graph.add_link(email=email, phone_number=phone_number)
    return graph


def graph_check(*, chunk_size: int, progress: Progress = no_progress) -> GraphCheck:
    """Compare every live contact's link with the graph rebuilt from stored rows; reads only.

    One streamed read without locks: on a database that serves traffic it is a snapshot, and
    ``relinks_repair`` re-reads each cluster under its locks before writing anything.
    """
    policy = stored_policy()
    graph = contact_graph_load(chunk_size=chunk_size, policy=policy, progress=progress)
    leaders, sizes = graph.leaders_and_sizes()
    relinks = [
        Relink(
            contact_id=contact_id,
            stored_linked_id=stored or None,
            linked_id=elected or None,
        )
        for contact_id, stored, elected in graph.relinks(leaders=leaders)
    ]
    components = sum(1 for position in leaders if position >= 0)
    return GraphCheck(
        contacts=len(graph),
        components=components,
        relinks=relinks,
        oversized=_oversized(graph=graph, sizes=sizes, policy=policy),
    )


def _oversized(*, graph: ContactGraph, sizes: array, policy: Policy) -> int:
    """How many components pass their limit: past ``max_size``, then past any raised limit."""
    if not policy.max_size:
        return 0
    large = set(compress(range(len(sizes)), map(policy.max_size.__lt__, sizes)))
    if not large or not policy.limits:
        return len(large)
    members: dict[int, list[int]] = {root: [] for root in large}
    for position, contact_id in enumerate(graph.contact_ids):
        root = graph.component(position)
        if root in members:
            members[root].append(contact_id)
    return sum(1 for root in large if sizes[root] > policy.limit_for(members[root]))


def scope_check(
    *,
    contact_id: int | None = None,
    email: str | None = None,
    phone_number: str | None = None,
) -> GraphCheck:
    """``graph_check`` restricted to the clusters of one contact, email or phone number.

    Covers whole components: every cluster reachable from the scope through shared identifiers
    and link records. Raises ``Contact.DoesNotExist`` for an unknown ``contact_id``.
    """
    root_ids: set[int] = set()
    nodes = set(identifier_nodes(email=email, phone_number=phone_number))
    if contact_id is not None:
        (state,) = contact_states(contact_ids=[contact_id])
        root_ids.add(state.root_id)
        nodes |= set(state.nodes)
    policy = stored_policy()
    rows, links = neighbourhood_rows(root_ids=root_ids, nodes=nodes, blocklist=policy.blocklist)
    elected, changes = plan_relinks(rows=rows, links=links, policy=policy)
    stored = {row.id: row.linked_id for row in rows}
    return GraphCheck(
        contacts=len(rows),
        components=len(set(elected.values())),
        relinks=[
            Relink(
                contact_id=change.contact_id,
                stored_linked_id=stored[change.contact_id],
                linked_id=change.linked_id,
            )
            for change in changes
        ],
    )


def _maybe_not_canonical() -> Q:
    """Rows whose values an earlier version may have stored in another form: non-ASCII emails
    (NFC, IDNA, invisible characters), punycode domains, the ``00`` prefix, and national numbers
    when ``PHONE_DEFAULT_REGION`` is set. Lower-casing and separators were always applied."""
    condition = (
        Q(email__regex=r"[^\x01-\x7f]")
        | Q(email__contains="xn--")
        | Q(phone_number__startswith=INTERNATIONAL_PREFIX)
    )
    if settings.PHONE_DEFAULT_REGION:
        condition |= Q(phone_number__isnull=False) & ~Q(phone_number__startswith="+")
    return condition


def _is_canonical(email: str | None, phone_number: str | None) -> bool:
    return canonical_identifiers(email=email, phone_number=phone_number) == (email, phone_number)


def not_canonical_contact_ids(*, chunk_size: int) -> list[int]:
    """Contacts to bring to canonical form (``services.repairs.identifiers_canonicalize``).

    Every contact, live or soft-deleted, whose stored email or phone number differs from its
    canonical form, and for each link record that does, the live contacts carrying its values
    (the correction rewrites the link records around the contacts it canonicalizes). Reads only.
    """
    ids = [
        contact_id
        for contact_id, email, phone_number in Contact.objects.filter(_maybe_not_canonical())
        .values_list("id", "email", "phone_number")
        .iterator(chunk_size=chunk_size)
        if not _is_canonical(email, phone_number)
    ]
    links = [
        (email, phone_number)
        for email, phone_number in IdentityLink.objects.filter(_maybe_not_canonical()).values_list(
            "email", "phone_number"
        )
        if not _is_canonical(email, phone_number)
    ]
    for email, phone_number in links:
        ids += Contact.live.filter(Q(email=email) | Q(phone_number=phone_number)).values_list(
            "id", flat=True
        )[:1]
    return sorted(set(ids))


def stale_link_flags(*, chunk_size: int) -> list[tuple[int, bool]]:
    """Link records whose ``blocked`` flag disagrees with the stored blocklist, as ``(id, what
    the flag should be)``: rows written before a blocklist entry (an upgrade, a restore)."""
    blocklist = stored_policy().blocklist
    stale = []
    for link_id, email, phone_number, flagged in (
        IdentityLink.objects.order_by("id")
        .values_list("id", "email", "phone_number", "blocked")
        .iterator(chunk_size=chunk_size)
    ):
        blocked = len(blocklist.nodes(email=email, phone_number=phone_number)) < 2
        if blocked != flagged:
            stale.append((link_id, blocked))
    return stale
