"""``manage.py reconcile``: bring stored identifiers to canonical form, rebuild the identity graph
from stored rows, fix the links (SPEC §6)."""

import time
from contextlib import nullcontext

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from contacts.db import backend
from contacts.db.routing import operator_reads
from contacts.models import Contact
from contacts.normalize import InvalidIdentifier, normalize_email, normalize_phone_number
from contacts.selectors.checks import (
    GraphCheck,
    Relink,
    graph_check,
    not_canonical_contact_ids,
    scope_check,
    stale_link_flags,
)
from contacts.services.bulk import identifiers_repair, link_flags_repair, relinks_repair


class Command(BaseCommand):
    help = (
        "Bring stored emails and phone numbers to the canonical form new values get, rebuild the "
        "identity graph from stored contacts and link records, and fix every contact whose link "
        "differs; safe while the API serves traffic."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--check",
            action="store_true",
            help=(
                "Only report the contacts whose identifiers are not canonical or whose link "
                "differs; exit with status 1 if any is."
            ),
        )
        mode.add_argument(
            "--dry-run", action="store_true", help="Print what would change, change nothing."
        )
        scope = parser.add_mutually_exclusive_group()
        scope.add_argument("--contact", type=int, help="Only the cluster of this contact id.")
        scope.add_argument("--email", help="Only the cluster of this email address.")
        scope.add_argument("--phone", help="Only the cluster of this phone number.")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=1000,
            help="Contacts to fix per transaction, whole clusters at a time (default 1000).",
        )
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=20000,
            help="Rows fetched per round trip while reading (default 20000).",
        )
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bars.")

    def handle(self, *args: object, **options: object) -> None:
        # A check only reads: from the read replica, when there is one (docs/scaling.md).
        reads = operator_reads() if options["check"] else nullcontext()
        with backend().operator_session(), reads:
            self._reconcile(options)

    def _reconcile(self, options: dict) -> None:
        started = time.monotonic()
        canonicalized = self._canonicalize(options)
        flags = self._link_flags(options)
        check = self._check(options)
        for relink in check.relinks:
            self.stdout.write(describe(relink))
        changed = []
        if check.relinks and not (options["check"] or options["dry_run"]):
            with self._progress(options, total=len(check.relinks), desc="fixing") as bar:
                changed = relinks_repair(
                    relinks=check.relinks, batch_size=options["batch_size"], progress=bar.update
                )
        if check.oversized:
            self.stdout.write(
                f"{check.oversized} clusters are past their size limit "
                "(IDENTITY_MAX_CLUSTER_SIZE; approved or imported past it): not a difference."
            )
        self.stdout.write(
            f"{check.contacts} contacts read, {check.components} clusters, "
            f"{len(check.relinks)} differ, {len(changed)} changed "
            f"in {time.monotonic() - started:.1f} s."
        )
        if options["check"] and (check.relinks or canonicalized or flags):
            raise CommandError(
                f"{canonicalized} contacts not in canonical form, "
                f"{flags} link records flagged against the blocklist, "
                f"{len(check.relinks)} contacts differ from the graph",
                returncode=1,
            )

    def _link_flags(self, options: dict) -> int:
        """Over the whole table (not a scope): link records whose ``blocked`` flag disagrees
        with the blocklist (docs/governance.md), fixed unless checking; returns how many."""
        if any(options[scope] is not None for scope in ("contact", "email", "phone")):
            return 0
        stale = stale_link_flags(chunk_size=options["chunk_size"])
        for link_id, blocked in stale:
            state = "blocked" if blocked else "not blocked"
            self.stdout.write(f"link record #{link_id}: should be flagged {state}")
        if stale and not (options["check"] or options["dry_run"]):
            link_flags_repair(stale=stale)
        return len(stale)

    def _canonicalize(self, options: dict) -> int:
        """Over the whole table (not a scope): the contacts whose stored identifiers differ from
        their canonical form, brought to it unless checking; returns how many there are."""
        if any(options[scope] is not None for scope in ("contact", "email", "phone")):
            return 0
        contact_ids = not_canonical_contact_ids(chunk_size=options["chunk_size"])
        for contact_id in contact_ids:
            self.stdout.write(f"contact #{contact_id}: identifiers not in canonical form")
        if not contact_ids or options["check"] or options["dry_run"]:
            return len(contact_ids)
        with self._progress(options, total=len(contact_ids), desc="canonical form") as bar:
            changed = identifiers_repair(
                contact_ids=contact_ids, batch_size=options["batch_size"], progress=bar.update
            )
        self.stdout.write(f"{changed} contacts brought to canonical form.")
        return len(contact_ids)

    def _check(self, options: dict) -> GraphCheck:
        if options["contact"] is None and options["email"] is None and options["phone"] is None:
            with self._progress(options, total=Contact.live.count(), desc="reading") as bar:
                return graph_check(chunk_size=options["chunk_size"], progress=bar.update)
        try:
            return scope_check(
                contact_id=options["contact"],
                email=normalize_email(options["email"]),
                phone_number=normalize_phone_number(options["phone"]),
            )
        except InvalidIdentifier as error:
            raise CommandError(f"Invalid scope: {error}") from error
        except Contact.DoesNotExist as error:
            raise CommandError(f"No contact with id {options['contact']}.") from error

    def _progress(self, options: dict, *, total: int, desc: str) -> tqdm:
        """A bar on stderr, shown when it is a terminal unless ``--no-progress``."""
        return tqdm(
            total=total,
            desc=desc,
            unit=" contacts",
            unit_scale=True,
            disable=True if options["no_progress"] else None,
        )


def describe(relink: Relink) -> str:
    """One line per differing contact: ``contact #7: primary -> secondary of #3``."""

    def role(linked_id: int | None) -> str:
        return "primary" if linked_id is None else f"secondary of #{linked_id}"

    return (
        f"contact #{relink.contact_id}: {role(relink.stored_linked_id)} -> {role(relink.linked_id)}"
    )
