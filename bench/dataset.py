"""The seeded data set and the request mix of the benchmark, both derived from one naming scheme.

Seeded cluster ``k`` (``0 <= k < clusters``) has a primary ``c<k>@seed.example`` / ``+1555<k>``
and ``size(k) - 1`` secondaries that add the emails ``c<k>.<j>@seed.example`` for the same phone.
Because the names are computed, the mix can aim at known identities without reading the
database, and the in-process replay that counts statements draws from the very same mix.
"""

import enum
import json
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connection

SEED_DOMAIN = "seed.example"
NEW_DOMAIN = "bench.example"
# Emails and phones of the cluster-size phases: one cluster per size, every contact sharing a phone.
SIZED_CLUSTER_SIZES = (1, 100, 10_000)


class Kind(enum.StrEnum):
    """What a request of the mix is meant to do (SPEC §4); the outcome the service reports may
    differ, e.g. a bridge between clusters that an earlier bridge already merged."""

    NEW = "new identity"
    LOOKUP = "repeat lookup"
    NEW_FOR_KNOWN = "new email/phone for a known one"
    BRIDGE = "bridge two clusters"


# Shares of the mix (issue 6): 30% new, 45% repeat lookups, 20% new-for-known, 5% bridges.
MIX = ((Kind.NEW, 0.30), (Kind.LOOKUP, 0.45), (Kind.NEW_FOR_KNOWN, 0.20), (Kind.BRIDGE, 0.05))


def cluster_size(k: int) -> int:
    """Half the customers used one contact, a quarter two, a quarter four."""
    return (1, 2, 1, 4)[k % 4]


def seed_email(k: int, j: int = 0) -> str:
    return f"c{k}@{SEED_DOMAIN}" if j == 0 else f"c{k}.{j}@{SEED_DOMAIN}"


def seed_phone(k: int) -> str:
    return f"+1555{k:07d}"


def sized_email(size: int, j: int) -> str:
    return f"s{size}.{j}@{SEED_DOMAIN}"


def sized_phone(size: int) -> str:
    return f"+1999{size:07d}"


def seed(*, clusters: int) -> int:
    """Insert the seeded clusters and the sized clusters with set-based SQL; returns the row count.

    Contacts are created one second apart in id order, so that the oldest contact of every cluster
    is its primary, as the service would have made it.
    """
    statements = [
        # Primaries of the mix's clusters.
        f"""
        INSERT INTO contacts_contact (email, phone_number, link_precedence, created_at, updated_at)
        SELECT 'c' || k || '@{SEED_DOMAIN}', '+1555' || lpad(k::text, 7, '0'), 'primary', t, t
        FROM generate_series(0, %(clusters)s - 1) AS k,
             LATERAL (SELECT now() - interval '400 days' + k * interval '1 second') AS at(t)
        """,
        # Their secondaries: cluster k has size (1, 2, 1, 4)[k % 4].
        f"""
        INSERT INTO contacts_contact
            (email, phone_number, linked_id, link_precedence, created_at, updated_at)
        SELECT 'c' || k || '.' || j || '@{SEED_DOMAIN}', p.phone_number, p.id, 'secondary',
               p.created_at + j * interval '1 millisecond', p.created_at
        FROM generate_series(0, %(clusters)s - 1) AS k
        JOIN contacts_contact AS p ON p.email = 'c' || k || '@{SEED_DOMAIN}'
        CROSS JOIN LATERAL generate_series(1, (ARRAY[1, 2, 1, 4])[k %% 4 + 1] - 1) AS j
        """,
        # One cluster per size of SIZED_CLUSTER_SIZES, all contacts sharing the phone.
        f"""
        INSERT INTO contacts_contact (email, phone_number, link_precedence, created_at, updated_at)
        SELECT 's' || size || '.0@{SEED_DOMAIN}', '+1999' || lpad(size::text, 7, '0'), 'primary',
               now() - interval '500 days', now()
        FROM unnest(%(sizes)s::int[]) AS size
        """,
        f"""
        INSERT INTO contacts_contact
            (email, phone_number, linked_id, link_precedence, created_at, updated_at)
        SELECT 's' || size || '.' || j || '@{SEED_DOMAIN}', p.phone_number, p.id, 'secondary',
               p.created_at + j * interval '1 second', p.created_at
        FROM unnest(%(sizes)s::int[]) AS size
        JOIN contacts_contact AS p ON p.email = 's' || size || '.0@{SEED_DOMAIN}'
        CROSS JOIN LATERAL generate_series(1, size - 1) AS j
        """,
    ]
    params = {"clusters": clusters, "sizes": list(SIZED_CLUSTER_SIZES)}
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement, params)
        cursor.execute("ANALYZE contacts_contact")
        cursor.execute("SELECT count(*) FROM contacts_contact")
        return cursor.fetchone()[0]


@dataclass(frozen=True)
class Request:
    kind: Kind
    body: dict[str, str]

    def json(self) -> str:
        return json.dumps(self.body, separators=(",", ":"))


def lookup_body(*, email: str, phone: str, rng: random.Random) -> dict[str, str]:
    """A third by email only, a third by phone only, a third by both."""
    return rng.choice(
        [{"email": email}, {"phoneNumber": phone}, {"email": email, "phoneNumber": phone}]
    )


def request_mix(*, clusters: int, tag: int, rng: random.Random) -> Iterator[Request]:
    """An endless seeded mix; ``tag`` (0-99) keeps each phase's new identifiers new."""
    kinds = [kind for kind, _ in MIX]
    weights = [share for _, share in MIX]
    counter = 0
    while True:
        counter += 1
        new_email = f"n{tag}.{counter}@{NEW_DOMAIN}"
        new_phone = f"+17{tag:02d}{counter:09d}"
        kind = rng.choices(kinds, weights)[0]
        k = rng.randrange(clusters)
        if kind is Kind.NEW:
            body = {"email": new_email, "phoneNumber": new_phone}
        elif kind is Kind.LOOKUP:
            body = lookup_body(
                email=seed_email(k, rng.randrange(cluster_size(k))), phone=seed_phone(k), rng=rng
            )
        elif kind is Kind.NEW_FOR_KNOWN:
            body = rng.choice(
                [
                    {"email": new_email, "phoneNumber": seed_phone(k)},
                    {"email": seed_email(k), "phoneNumber": new_phone},
                ]
            )
        else:
            other = (k + 1 + rng.randrange(clusters - 1)) % clusters
            body = {"email": seed_email(k), "phoneNumber": seed_phone(other)}
        yield Request(kind=kind, body=body)


# Requests of the growing mix aim only at identities created this many requests earlier in their
# stream or more, so that the request that created one has been answered (wrk keeps at most 16 of
# a thread's requests in flight).
GROWING_MIX_LAG = 64


def growing_mix(*, tag: int, streams: int, rng: random.Random) -> Iterator[Request]:
    """The shares of ``MIX`` on a database that starts empty, which the mix fills itself.

    ``streams`` (at most 10) independent streams, interleaved line by line: wrk's thread ``t`` of
    ``streams`` sends lines ``t``, ``t + streams``, … in order, and a request must not aim at an
    identity that another thread, running ahead or behind, has not created yet.
    """
    generators = [
        _growing_stream(tag=tag, stream=stream, rng=random.Random(rng.random()))
        for stream in range(streams)
    ]
    while True:
        for generator in generators:
            yield next(generator)


def _growing_stream(*, tag: int, stream: int, rng: random.Random) -> Iterator[Request]:
    """Every request but a new identity aims at an identity an earlier request of the stream
    created. Emails and phones are ``g<tag>.<stream>.<n>@bench.example`` /
    ``+18<tag><stream><n>``.

    A bridge joins two identities that no earlier bridge joined, as bridges between the seeded
    mix's 50,000 clusters do: chains of merges would grow clusters the seeded phases never see.
    """
    kinds = [kind for kind, _ in MIX]
    weights = [share for _, share in MIX]
    created: deque[tuple[int, tuple[str, str]]] = deque()
    identities: list[tuple[str, str]] = []
    unbridged: list[tuple[str, str]] = []
    counter = 0
    while True:
        counter += 1
        while created and created[0][0] <= counter - GROWING_MIX_LAG:
            identities.append(created.popleft()[1])
            unbridged.append(identities[-1])
        new_email = f"g{tag}.{stream}.{counter}@{NEW_DOMAIN}"
        new_phone = f"+18{tag:02d}{stream}{counter:08d}"
        kind = rng.choices(kinds, weights)[0] if len(unbridged) > 1 else Kind.NEW
        if kind is Kind.NEW:
            body = {"email": new_email, "phoneNumber": new_phone}
            created.append((counter, (new_email, new_phone)))
        elif kind is Kind.LOOKUP:
            email, phone = rng.choice(identities)
            body = lookup_body(email=email, phone=phone, rng=rng)
        elif kind is Kind.NEW_FOR_KNOWN:
            email, phone = rng.choice(identities)
            body = rng.choice(
                [
                    {"email": new_email, "phoneNumber": phone},
                    {"email": email, "phoneNumber": new_phone},
                ]
            )
        else:
            (email, _), (_, phone) = (
                unbridged.pop(rng.randrange(len(unbridged))) for _ in range(2)
            )
            body = {"email": email, "phoneNumber": phone}
        yield Request(kind=kind, body=body)


def sized_lookups(*, size: int, rng: random.Random) -> Iterator[Request]:
    """Lookups into the seeded cluster of ``size`` contacts: by email, by phone, or both."""
    while True:
        body = lookup_body(
            email=sized_email(size, rng.randrange(size)), phone=sized_phone(size), rng=rng
        )
        yield Request(kind=Kind.LOOKUP, body=body)
