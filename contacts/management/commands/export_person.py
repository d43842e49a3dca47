"""``manage.py export_person``: print everything the service holds about a person as JSON, the
document ``POST /privacy/exports/`` answers (docs/privacy.md). Reads only."""

import json
import os

from django.core.management.base import BaseCommand, CommandError, CommandParser

from contacts.db import backend
from contacts.exceptions import IdentityNotFound
from contacts.management.person import add_person_arguments, person_from_options
from contacts.selectors.exports import person_export


class Command(BaseCommand):
    help = (
        "Print as JSON what the service holds about a person: the contacts of the identity an "
        "email, a phone number or a contact id belongs to, the link records and held merges "
        "carrying its values, and its history (docs/api.md, 'Privacy')."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        subject = parser.add_mutually_exclusive_group(required=True)
        add_person_arguments(subject, whose="of the person")
        parser.add_argument(
            "--output",
            metavar="FILE",
            help="Write the JSON to FILE (readable by its owner only) instead of printing it.",
        )

    def handle(self, *args: object, **options: object) -> None:
        person = person_from_options(options)
        with backend().operator_session():
            try:
                document = person_export(**person)
            except IdentityNotFound as error:
                raise CommandError(str(error.detail)) from None
        text = json.dumps(document, indent=2, ensure_ascii=False)
        if options["output"] is None:
            self.stdout.write(text)
            return
        try:
            _write_private(path=options["output"], text=text + "\n")
        except OSError as error:
            raise CommandError(f"Cannot write {options['output']}: {error.strerror}") from None
        self.stderr.write(
            f"Wrote {len(document['contacts'])} contacts and {len(document['history'])} "
            f"history events to {options['output']}."
        )


def _write_private(*, path: str, text: str) -> None:
    """Write ``text`` to ``path``, created readable by its owner only: it holds personal data."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
