"""``manage.py erase_person``: erase a person's data everywhere the service stores it, replay the
erasure ledger after a restore, or print the ledger (docs/privacy.md). A dry run unless
``--write``; it prints ids and counts, never an email or a phone number."""

import json
from dataclasses import asdict

from django.core.management.base import BaseCommand, CommandError, CommandParser

from contacts.db import backend
from contacts.exceptions import IdentityNotFound
from contacts.management.person import add_person_arguments, person_from_options
from contacts.models import ErasureScope, Source
from contacts.selectors.privacy import ErasureSubject
from contacts.services.erasure import Requester, erasure_preview, person_erase
from contacts.services.ledger_replay import ledger_entries_read, ledger_replay, ledger_replay_plan

REQUESTER = Requester(source=Source.COMMAND, name="manage.py erase_person")


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


# Ids printed in full; a longer list is cut (the erasure's record in the admin has them all).
IDS_SHOWN = 20


def _ids(ids: list[int]) -> str:
    shown = ", ".join(f"#{contact_id}" for contact_id in ids[:IDS_SHOWN]) or "none"
    return shown if len(ids) <= IDS_SHOWN else f"{shown} … ({len(ids)} in all)"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name.replace('_', ' ')}: {count}" for name, count in counts.items())


class Command(BaseCommand):
    help = (
        "Erase a person: every contact carrying an email or phone number (--scope identifier, "
        "the default) or the whole identity (--scope identity), their link records, held "
        "merges, and the values in the history and the admin log; what is left is re-formed. "
        "A dry run unless --write. --replay-ledger applies every recorded erasure again after "
        "a backup is restored (docs/privacy.md)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        subject = parser.add_mutually_exclusive_group()
        add_person_arguments(subject, whose="to erase")
        subject.add_argument(
            "--replay-ledger",
            nargs="?",
            const="",
            metavar="FILE",
            help="Erase again every value of the ledger found stored (after restoring a "
            "backup): from FILE (PRIVACY_LEDGER_FILE's copy), else from the database.",
        )
        subject.add_argument(
            "--export-ledger",
            action="store_true",
            help="Print the database's ledger as JSON Lines (keyed hashes only), to keep "
            "apart from the backups.",
        )
        parser.add_argument(
            "--scope",
            choices=ErasureScope.values,
            default=ErasureScope.IDENTIFIER,
            help="identifier (default): the contacts carrying the value, the rest of the "
            "identity re-formed; identity: every contact of the person's identity.",
        )
        parser.add_argument("--reason", help="Why (kept with the record); required with --write.")
        parser.add_argument(
            "--suppress",
            action="store_true",
            help="Refuse later requests carrying an erased value (422 suppressed).",
        )
        parser.add_argument("--request-id", help="An idempotency key: run twice, erase once.")
        parser.add_argument("--write", action="store_true", help="Erase; without it, a dry run.")

    def handle(self, *args: object, **options: object) -> None:
        with backend().operator_session():
            if options["export_ledger"]:
                self._export_ledger()
            elif options["replay_ledger"] is not None:
                self._replay(path=options["replay_ledger"] or None, write=options["write"])
            else:
                self._erase(options)

    def _erase(self, options: dict) -> None:
        subject = _subject(options)
        if not options["write"]:
            try:
                preview = erasure_preview(subject=subject)
            except IdentityNotFound as error:
                raise CommandError(str(error.detail)) from None
            self.stdout.write(
                f"Dry run: would erase {_count(len(preview.contact_ids), 'contact')} "
                f"({_ids(preview.contact_ids)}; {len(preview.live_contact_ids)} live) and "
                f"{_count(preview.values, 'value')}: {_counts(preview.counts)}."
            )
            self.stdout.write(
                f"Identities {_ids(preview.primary_ids_before)} would be left as "
                f"{_ids(preview.primary_ids_after)}. Nothing was written: add --write."
            )
            return
        if not (options["reason"] or "").strip():
            raise CommandError("--reason is required with --write.")
        try:
            erasure = person_erase(
                subject=subject,
                reason=options["reason"].strip(),
                requester=REQUESTER,
                suppress=options["suppress"],
                request_id=options["request_id"],
            )
        except IdentityNotFound as error:
            raise CommandError(str(error.detail)) from None
        self.stdout.write(
            f"Erasure #{erasure.id}: erased contacts {_ids(erasure.contact_ids)}; "
            f"{_counts(erasure.counts)}; identities left: {_ids(erasure.primary_ids)}"
            f"{'; suppressed' if erasure.suppress else ''}."
        )

    def _replay(self, *, path: str | None, write: bool) -> None:
        try:
            entries = ledger_entries_read(path=path)
        except (OSError, ValueError) as error:
            raise CommandError(f"Cannot read the ledger: {error}") from None
        plan = ledger_replay_plan(entries=entries)
        found_erasures = sorted({entry.erasure_id for entry, _ in plan.found})
        found = _count(len(plan.found), "value")
        missing = _count(len(plan.missing), "entry", "entries")
        summary = (
            f"{_count(len(entries), 'ledger entry', 'ledger entries')}: {found} found stored "
            f"again (erasures {_ids(found_erasures)}), {missing} missing from the database"
        )
        if not write:
            self.stdout.write(f"Dry run: {summary}. Nothing was written: add --write.")
            return
        erasures = ledger_replay(plan=plan, requester=REQUESTER)
        self.stdout.write(f"{summary}; erasures {_ids([erasure.id for erasure in erasures])}.")

    def _export_ledger(self) -> None:
        for entry in ledger_entries_read(path=None):
            record = asdict(entry)
            record["erasure"] = record.pop("erasure_id")
            self.stdout.write(json.dumps(record))


def _subject(options: dict) -> ErasureSubject:
    person = person_from_options(options)
    if person is None:
        raise CommandError(
            "Name the person: --email, --phone or --contact (or --replay-ledger, --export-ledger)."
        )
    return ErasureSubject(scope=ErasureScope(options["scope"]), **person)
