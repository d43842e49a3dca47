"""``manage.py reconcile``: bring stored identifiers to canonical form, rebuild the identity graph
from stored rows, fix the links (SPEC §6)."""

import time
from contextlib import nullcontext
from dataclasses import dataclass

from django.core.management.base import BaseCommand, CommandError, CommandParser

from contacts.db import backend
from contacts.db.routing import operator_reads
from contacts.management.counts import counted
from contacts.management.progress import ProgressBars
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


@dataclass(frozen=True, slots=True)
class Repair:
    """What one of the whole-table steps found, and how much of it it changed."""

    found: int
    changed: int


SKIPPED = None
"""A scoped run does not look at the whole table for identifiers or flags to repair."""


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
        parser.add_argument(
            "--no-progress",
            action="store_true",
            help="Hide the progress bars (shown only when stderr is a terminal).",
        )

    def handle(self, *args: object, **options: object) -> None:
        # A check only reads: from the read replica, when there is one (docs/scaling.md).
        reads = operator_reads() if options["check"] else nullcontext()
        bars = ProgressBars(stream=self.stderr, enabled=not options["no_progress"])
        with backend().operator_session(), reads, bars:
            self._reconcile(options, bars=bars)

    def _reconcile(self, options: dict, *, bars: ProgressBars) -> None:
        started = time.monotonic()
        writes = not (options["check"] or options["dry_run"])
        canonical = self._canonicalize(options, bars=bars, writes=writes)
        flags = self._link_flags(options, writes=writes)
        check = self._check(options, bars=bars)
        bars.close()
        for relink in check.relinks:
            self.stdout.write(describe(relink))
        changed = []
        if check.relinks and writes:
            changed = relinks_repair(
                relinks=check.relinks,
                batch_size=options["batch_size"],
                progress=bars("fixing", total=len(check.relinks), unit="contacts"),
            )
        bars.close()
        if check.oversized:
            self.stdout.write(
                f"{counted(check.oversized, 'cluster is', 'clusters are')} past the size limit "
                "(IDENTITY_MAX_CLUSTER_SIZE; approved or imported past it): not a difference."
            )
        self.stdout.write(
            describe_summary(
                check=check,
                changed=len(changed),
                canonical=canonical,
                flags=flags,
                seconds=time.monotonic() - started,
                writes=writes,
            )
        )
        found_canonical = canonical.found if canonical else 0
        found_flags = flags.found if flags else 0
        if options["check"] and (check.relinks or found_canonical or found_flags):
            raise CommandError(
                f"{counted(found_canonical, 'contact')} not in canonical form, "
                f"{counted(found_flags, 'link record')} flagged against the blocklist, "
                f"{counted(len(check.relinks), 'contact differs', 'contacts differ')} "
                "from the graph",
                returncode=1,
            )

    def _link_flags(self, options: dict, *, writes: bool) -> Repair | None:
        """Over the whole table (not a scope): link records whose ``blocked`` flag disagrees
        with the blocklist (docs/governance.md), fixed when ``writes``."""
        if _scoped(options):
            return SKIPPED
        stale = stale_link_flags(chunk_size=options["chunk_size"])
        for link_id, blocked in stale:
            state = "blocked" if blocked else "not blocked"
            self.stdout.write(f"link record #{link_id}: should be flagged {state}")
        changed = link_flags_repair(stale=stale) if stale and writes else 0
        return Repair(found=len(stale), changed=changed)

    def _canonicalize(self, options: dict, *, bars: ProgressBars, writes: bool) -> Repair | None:
        """Over the whole table (not a scope): the contacts whose stored identifiers differ from
        their canonical form, brought to it when ``writes``."""
        if _scoped(options):
            return SKIPPED
        contact_ids = not_canonical_contact_ids(chunk_size=options["chunk_size"])
        for contact_id in contact_ids:
            self.stdout.write(f"contact #{contact_id}: identifiers not in canonical form")
        if not contact_ids or not writes:
            return Repair(found=len(contact_ids), changed=0)
        changed = identifiers_repair(
            contact_ids=contact_ids,
            batch_size=options["batch_size"],
            progress=bars("canonical form", total=len(contact_ids), unit="contacts"),
        )
        return Repair(found=len(contact_ids), changed=changed)

    def _check(self, options: dict, *, bars: ProgressBars) -> GraphCheck:
        if not _scoped(options):
            progress = bars("reading", total=Contact.live.count(), unit="contacts")
            return graph_check(chunk_size=options["chunk_size"], progress=progress)
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


def _scoped(options: dict) -> bool:
    return any(options[scope] is not None for scope in ("contact", "email", "phone"))


def describe_summary(
    *,
    check: GraphCheck,
    changed: int,
    canonical: Repair | None,
    flags: Repair | None,
    seconds: float,
    writes: bool,
) -> str:
    """The last line: what was read and found, then what was changed. A dry run and a check find
    what a repair would, except where canonical form merges identities (said so)."""
    differ = len(check.relinks)
    parts = [
        f"{counted(check.contacts, 'contact')} read, {counted(check.components, 'cluster')}, "
        f"{differ} {'differs' if differ == 1 else 'differ'}, {changed} changed"
    ]
    if canonical is SKIPPED or flags is SKIPPED:
        parts.append("canonical form and blocked flags not checked in a scoped run")
    else:
        parts += [
            f"{counted(canonical.found, 'contact')} not in canonical form, "
            f"{canonical.changed} brought to it",
            f"{counted(flags.found, 'link record')} with a stale blocked flag, "
            f"{flags.changed} fixed",
        ]
    if canonical and canonical.found and not writes:
        parts.append(
            "the graph is of the identifiers as stored: the merges canonical form brings are "
            "not computed without writing"
        )
    mode = "" if writes else " (nothing written)"
    return f"{'; '.join(parts)}; in {seconds:.1f} s{mode}."


def describe(relink: Relink) -> str:
    """One line per differing contact: ``contact #7: primary -> secondary of #3``."""

    def role(linked_id: int | None) -> str:
        return "primary" if linked_id is None else f"secondary of #{linked_id}"

    return (
        f"contact #{relink.contact_id}: {role(relink.stored_linked_id)} -> {role(relink.linked_id)}"
    )
