"""Reads of erasure (docs/privacy.md): which contacts and values an erasure removes, where else
those values are stored, and the ledger. The writer (``services.erasure``) reads the same things
again under its locks; a dry run reads them once."""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q

from contacts.exceptions import IdentityNotFound
from contacts.governance import Blocklist
from contacts.models import (
    BlockedIdentifier,
    Cluster,
    ClusterEvent,
    Contact,
    ErasedIdentifier,
    Erasure,
    ErasureScope,
    EventKind,
    HeldMerge,
    IdentityLink,
    MatchType,
)
from contacts.rules import scrub, scrub_text

Node = tuple[str, str]
"""``("email", value)`` or ``("phone", value)``."""

_FIELDS = {"email": "email", "phone": "phone_number"}


@dataclass(frozen=True)
class ErasureSubject:
    """What names the person: one canonical value, or a contact id."""

    scope: ErasureScope
    email: str | None = None
    phone_number: str | None = None
    contact_id: int | None = None

    @property
    def kind(self) -> str:
        if self.contact_id is not None:
            return "contact"
        return "email" if self.email is not None else "phone"

    @property
    def named_values(self) -> set[Node]:
        return {
            (kind, value)
            for kind, value in (("email", self.email), ("phone", self.phone_number))
            if value is not None
        }


@dataclass(frozen=True)
class ErasureTargets:
    """The contacts an erasure deletes and the values it removes from every table."""

    contact_ids: list[int]
    values: frozenset[Node]
    """The person's values: every contact, link record and held merge carrying one goes."""
    scrubbed: frozenset[Node]
    """Values removed from the history's details and the admin log (``values``, and on an
    identity's erasure every value its contacts carry or carried before an edit, placeholders
    included)."""
    carriers: dict[Node, int]
    """How many of the erased contacts carried each of ``values``."""


def erasure_targets(*, subject: ErasureSubject, blocklist: Blocklist) -> ErasureTargets:
    """The contacts (live or soft-deleted) and the values an erasure of ``subject`` removes.

    An identifier's erasure removes every contact carrying the value; an identity's, every
    contact of the identities those contacts belong to (with their soft-deleted members) and
    every contact carrying one of their values. A value the blocklist blocks is a placeholder,
    not the person's: it is removed from the identity's history but stays on other contacts,
    unless the subject names it. Raises ``IdentityNotFound`` when no contact is named.
    """
    named = subject.named_values
    if subject.contact_id is not None:
        contact = Contact.objects.filter(id=subject.contact_id).first()
        if contact is None:
            raise IdentityNotFound(f"No contact #{subject.contact_id}.", code="contact_not_found")
        seeds = [contact]
        named = set(blocklist.nodes(email=contact.email, phone_number=contact.phone_number))
    else:
        seeds = list(Contact.objects.filter(_carrying(named)))
    members = seeds
    if subject.scope == ErasureScope.IDENTITY:
        roots = {seed.linked_id or seed.id for seed in seeds if seed.deleted_at is None}
        members = [
            *seeds,
            *Contact.objects.filter(Q(id__in=roots) | Q(linked_id__in=roots)).exclude(
                id__in=[seed.id for seed in seeds]
            ),
        ]
    member_values = {node for member in members for node in _values(member)}
    values = set(named)
    if subject.scope == ErasureScope.IDENTITY:
        values |= {node for node in member_values if not blocklist.blocks(*node)}
    carriers = list(Contact.objects.filter(_carrying(values))) if values else []
    erased = {contact.id: contact for contact in [*members, *carriers]}
    scrubbed = values
    if subject.scope == ErasureScope.IDENTITY:
        scrubbed = values | member_values | _former_values(contact_ids=list(erased))
    return ErasureTargets(
        contact_ids=sorted(erased),
        values=frozenset(values),
        scrubbed=frozenset(scrubbed),
        carriers={
            node: sum(node in _values(contact) for contact in erased.values()) for node in values
        },
    )


def _former_values(*, contact_ids: list[int]) -> set[Node]:
    """Values these contacts carried before an edit or a canonicalization replaced them: their
    history still names them."""
    recorded = ClusterEvent.objects.filter(
        contact_id__in=contact_ids, kind__in=[EventKind.EDITED, EventKind.CANONICALIZED]
    ).values_list("details", flat=True)
    return {node for details in recorded for node in _detail_values(details)}


def _detail_values(details: dict) -> Iterator[Node]:
    """The ``[before, after]`` values an edit's or a canonicalization's details record."""
    for kind, field in _FIELDS.items():
        for value in details.get(field) or ():
            if isinstance(value, str):
                yield kind, value


def _values(contact: Contact) -> list[Node]:
    return [
        (kind, value)
        for kind, value in (("email", contact.email), ("phone", contact.phone_number))
        if value is not None
    ]


def _carrying(nodes: Iterable[Node]) -> Q:
    """Rows whose email or phone number is one of ``nodes``: one ``IN`` per kind, however many."""
    by_kind: dict[str, list[str]] = {kind: [] for kind in _FIELDS}
    for kind, value in nodes:
        by_kind[kind].append(value)
    condition = Q(pk__in=[])
    for kind, values in by_kind.items():
        if values:
            condition |= Q(**{f"{_FIELDS[kind]}__in": values})
    return condition


def link_records_carrying(*, values: Iterable[Node]) -> "Iterable[IdentityLink]":
    return IdentityLink.objects.filter(_carrying(values))


def held_merges_carrying(*, values: Iterable[Node]) -> "Iterable[HeldMerge]":
    return HeldMerge.objects.filter(_carrying(values))


def blocked_entries_of(*, values: Iterable[Node]) -> "Iterable[BlockedIdentifier]":
    condition = Q(pk__in=[])
    for kind in _FIELDS:
        condition |= Q(kind=kind, value__in=[value for of, value in values if of == kind])
    return BlockedIdentifier.objects.filter(condition, match=MatchType.EXACT)


# The events whose details can hold a value their contact does not carry: a merge (the bridging
# request), an edit or a canonicalization (the old value), and any with a staff member's reason.
_RECORDING_KINDS = [EventKind.MERGED, EventKind.EDITED, EventKind.CANONICALIZED]
_REPLACING_KINDS = {EventKind.EDITED, EventKind.CANONICALIZED}
# Up to this many values, the admin log is searched in SQL; past it, read and matched in Python.
_TEXT_SEARCH_MAX = 32


def events_carrying(*, contact_ids: Iterable[int], values: Iterable[Node]) -> list[ClusterEvent]:
    """Events whose details may hold one of ``values``: those about the erased contacts, those
    recording a value that is not on their contact (matched here, whatever the number of values),
    and every event of a contact an edit took one of the values from (its creation's request)."""
    texts = frozenset(value for _, value in values)
    recording = ClusterEvent.objects.filter(
        Q(kind__in=_RECORDING_KINDS) | Q(details__has_key="reason")
    ).only("id", "kind", "contact_id", "details")
    mentioning = [
        event for event in recording if scrub(event.details, texts=texts) != event.details
    ]
    replaced_from = {event.contact_id for event in mentioning if event.kind in _REPLACING_KINDS}
    about = ClusterEvent.objects.filter(contact_id__in=[*contact_ids, *replaced_from]).only(
        "id", "kind", "contact_id", "details"
    )
    return list({event.id: event for event in [*mentioning, *about]}.values())


def _text_search(field: str, values: Iterable[str]) -> Q:
    """Rows whose ``field`` holds one of ``values``."""
    condition = Q(pk__in=[])
    for value in values:
        condition |= Q(**{f"{field}__contains": value})
    return condition


def admin_log_carrying(*, contact_ids: Iterable[int], values: Iterable[Node]) -> list[LogEntry]:
    """Admin log entries about the erased contacts, or whose object name or message holds one
    of ``values``."""
    texts = frozenset(value for _, value in values)
    # Entries of the contacts admin and of the clusters admin (a proxy model of its own).
    types = ContentType.objects.get_for_models(Contact, Cluster, for_concrete_models=False)
    ids = [str(contact_id) for contact_id in contact_ids]
    about = Q(content_type__in=types.values(), object_id__in=ids)
    entries = LogEntry.objects.only(
        "id", "content_type_id", "object_id", "object_repr", "change_message"
    )
    if len(texts) <= _TEXT_SEARCH_MAX:
        named = _text_search("object_repr", texts) | _text_search("change_message", texts)
        return list(entries.filter(about | named))
    type_ids = {content_type.id for content_type in types.values()}
    wanted = set(ids)
    return [
        entry
        for entry in entries.iterator()
        if (entry.content_type_id in type_ids and entry.object_id in wanted)
        or scrub_text(entry.object_repr, texts=texts) != entry.object_repr
        or scrub_text(entry.change_message, texts=texts) != entry.change_message
    ]


def ledger_entries() -> Iterator[tuple[int, str, str, bool]]:
    """Every ledger entry as ``(erasure id, kind, digest, suppress)``, oldest first."""
    return (
        ErasedIdentifier.objects.order_by("id")
        .values_list("erasure_id", "kind", "digest", "suppress")
        .iterator()
    )


def stored_values() -> Iterator[Node]:
    """Every email and phone number stored anywhere an erasure removes them from, with
    repeats: what a ledger replay hashes to find erased values again after a restore. Values
    that only the history still holds come from the events that record an old value."""
    for model in (Contact, IdentityLink, HeldMerge):
        for kind, field in _FIELDS.items():
            yield from (
                (kind, value)
                for value in model.objects.exclude(**{f"{field}__isnull": True})
                .order_by()
                .values_list(field, flat=True)
                .distinct()
                .iterator(chunk_size=10_000)
            )
    for kind, value in BlockedIdentifier.objects.filter(match=MatchType.EXACT).values_list(
        "kind", "value"
    ):
        yield kind, value
    recorded = ClusterEvent.objects.filter(kind__in=[EventKind.EDITED, EventKind.CANONICALIZED])
    for details in recorded.values_list("details", flat=True).iterator(chunk_size=10_000):
        yield from _detail_values(details)


def erasure_record(*, erasure_id: int) -> Erasure | None:
    """The erasure with its ledger entries, or ``None``."""
    return Erasure.objects.prefetch_related("identifiers").filter(id=erasure_id).first()


def erasure_of_request(*, request_id: str | None) -> Erasure | None:
    """The erasure an earlier call with this idempotency key made, if any."""
    if request_id is None:
        return None
    return Erasure.objects.prefetch_related("identifiers").filter(request_id=request_id).first()
