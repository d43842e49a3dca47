"""``manage.py identifier_report``: how big the identities are, and which identifiers the most
contacts share (docs/governance.md), for operators looking for values to block."""

import json
from dataclasses import asdict

from django.core.management.base import BaseCommand, CommandParser

from contacts.db import backend
from contacts.selectors.data_quality import (
    IDENTIFIER_FIELDS,
    cluster_size_histogram,
    most_shared_identifiers,
)


class Command(BaseCommand):
    help = (
        "Report the identities by size and the emails and phone numbers shared by the most "
        "contacts: candidates to block (docs/governance.md). Reads only."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--top",
            type=int,
            default=20,
            help="Identifiers of each kind to list (default 20).",
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args: object, **options: object) -> None:
        with backend().operator_session():
            sizes = cluster_size_histogram()
            shared = {
                kind: most_shared_identifiers(kind=kind, limit=options["top"])
                for kind in IDENTIFIER_FIELDS
            }
        if options["json"]:
            report = {
                "cluster_sizes": [asdict(bucket) for bucket in sizes],
                "most_shared": {
                    kind: [{"value": item.value, "contacts": item.contacts} for item in items]
                    for kind, items in shared.items()
                },
            }
            self.stdout.write(json.dumps(report, ensure_ascii=False))
            return
        self.stdout.write("Identities by size (live contacts)")
        self.stdout.write(f"{'size':>12}{'identities':>12}{'contacts':>12}")
        for bucket in sizes:
            self.stdout.write(f"{bucket.label:>12}{bucket.clusters:>12,}{bucket.contacts:>12,}")
        for kind, items in shared.items():
            self.stdout.write(f"\nThe {kind} values shared by the most contacts")
            if not items:
                self.stdout.write("  none shared by two contacts or more")
            for item in items:
                self.stdout.write(f"{item.contacts:>8,}  {item.value}")
