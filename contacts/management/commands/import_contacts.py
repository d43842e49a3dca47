"""``manage.py import_contacts FILE``: load a shop's order history as if sent to ``/identify/``."""

import gc
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from contacts.db import backend
from contacts.import_files import FORMATS, format_of, read_rows
from contacts.rules import OversizedCluster
from contacts.services.bulk import contacts_import


class Command(BaseCommand):
    help = (
        "Import orders (email, phone, optional created time) from a CSV or JSON Lines file, with "
        "the outcome of sending them to /identify/ oldest first; a dry run unless --write."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="A .csv, .jsonl or .ndjson file.")
        parser.add_argument(
            "--format", choices=FORMATS, help="The file's format when its name does not say."
        )
        parser.add_argument(
            "--write", action="store_true", help="Commit the import (default: a dry run)."
        )
        parser.add_argument(
            "--chunk-size",
            type=int,
            default=20000,
            help="Rows per round trip while reading and writing (default 20000).",
        )
        parser.add_argument(
            "--allow-large-clusters",
            action="store_true",
            help=(
                "Write the import even if it takes clusters past IDENTITY_MAX_CLUSTER_SIZE "
                "(without it, such an import is reported and nothing is written)."
            ),
        )
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")

    def handle(self, *args: object, **options: object) -> None:
        # Millions of small objects and no reference cycles: the cyclic garbage collector would only
        # walk them again and again (a third of the run time on a million rows).
        gc.disable()
        try:
            with backend().operator_session():
                self._import(options)
        finally:
            gc.enable()

    def _import(self, options: dict) -> None:
        path: Path = options["file"]
        file_format = options["format"] or format_of(path.name)
        if file_format is None:
            raise CommandError(f"Cannot tell the format of {path.name}: pass --format.")
        try:
            with path.open(encoding="utf-8-sig", newline="") as stream:
                lines = tqdm(
                    stream,
                    desc="reading",
                    unit=" lines",
                    unit_scale=True,
                    disable=True if options["no_progress"] else None,
                )
                rows, errors = read_rows(
                    lines=lines, file_format=file_format, default_created_at=timezone.now()
                )
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"Cannot read {path}: {error}") from error
        for error in errors:
            self.stderr.write(f"{path.name}:{error.line}: {error.message}")
        result = contacts_import(
            rows=rows,
            label=path.name,
            write=options["write"],
            chunk_size=options["chunk_size"],
            allow_large_clusters=options["allow_large_clusters"],
        )
        for cluster in result.oversized:
            self.stderr.write(describe_oversized(cluster))
        verb = "Imported" if result.written else "Dry run, nothing written: would import"
        self.stdout.write(
            f"{verb} {len(rows)} valid rows ({len(errors)} rejected): "
            f"{result.contacts_created} contacts created, {result.links_created} link records, "
            f"{result.unchanged} rows already known, {result.clusters} clusters gained contacts, "
            f"{len(result.relinked_ids)} stored contacts relinked; "
            f"{result.blocked} rows with only blocked values and {result.never_linked} rows "
            "joining a never-link pair left out."
        )
        if options["write"] and not result.written:
            raise CommandError(
                f"Nothing written: {len(result.oversized)} clusters would pass their size limit "
                "(IDENTITY_MAX_CLUSTER_SIZE). Check them, then run again with "
                "--allow-large-clusters to import them anyway.",
                returncode=2,
            )


def describe_oversized(cluster: OversizedCluster) -> str:
    """One line per cluster an import would take past its limit."""
    which = (
        f"the cluster of contact #{cluster.contact_id}"
        if cluster.contact_id is not None
        else "a cluster of imported contacts"
    )
    return f"{which} would have {cluster.size} contacts (limit {cluster.limit})"
