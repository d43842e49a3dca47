"""``manage.py identifier_report``: how big the identities are, which identifiers the most contacts
share, and the writes the size limit holds (docs/governance.md), for operators looking for values
to block."""

import json
from dataclasses import asdict

from django.core.management.base import BaseCommand, CommandParser

from contacts.db import backend
from contacts.db.routing import operator_reads
from contacts.selectors.checks import stored_policy
from contacts.selectors.data_quality import (
    IDENTIFIER_FIELDS,
    cluster_size_histogram,
    held_merges_by_day,
    held_merges_pending,
    most_shared_identifiers,
)

# Days of held merges the report lists.
HELD_DAYS = 30


class Command(BaseCommand):
    help = (
        "Report the identities by size, the emails and phone numbers shared by the most "
        "contacts (candidates to block) and the held merges waiting for a person "
        "(docs/governance.md). Reads only."
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
        with backend().operator_session(), operator_reads():
            sizes = cluster_size_histogram()
            shared = {
                kind: most_shared_identifiers(kind=kind, limit=options["top"])
                for kind in IDENTIFIER_FIELDS
            }
            blocks = stored_policy().blocklist.blocks
            pending = held_merges_pending()
            held_days = [day for day in held_merges_by_day(days=HELD_DAYS) if day.held]
        if options["json"]:
            report = {
                "cluster_sizes": [asdict(bucket) for bucket in sizes],
                "most_shared": {
                    kind: [
                        {
                            "value": item.value,
                            "contacts": item.contacts,
                            "blocked": blocks(kind, item.value),
                        }
                        for item in items
                    ]
                    for kind, items in shared.items()
                },
                "held_merges": {
                    "pending": pending,
                    "by_day": [{"day": day.day.isoformat(), "held": day.held} for day in held_days],
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
                blocked = "  (blocked)" if blocks(kind, item.value) else ""
                self.stdout.write(f"{item.contacts:>8,}  {item.value}{blocked}")
        self.stdout.write(f"\nHeld merges: {pending:,} pending")
        for day in held_days:
            self.stdout.write(f"{day.day.isoformat():>12}{day.held:>8,} first held")
