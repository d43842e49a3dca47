"""``manage.py import_contacts FILE``: load a shop's order history as if sent to ``/identify/``."""

import gc
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from contacts.db import backend
from contacts.import_files import FORMATS, RowError, format_of, read_file
from contacts.management.counts import counted
from contacts.management.progress import ProgressBars
from contacts.rules import ImportRow, OversizedCluster
from contacts.services.bulk import ImportResult, contacts_import

EXIT_OVERSIZED = 2
"""``--write`` refused: clusters would pass their size limit; nothing was written."""
EXIT_REJECTED = 3
"""Rows were rejected (listed on stderr); the others were imported, or reported by a dry run."""


class Command(BaseCommand):
    help = (
        "Import orders (email, phone, optional created time) from a CSV or JSON Lines file, with "
        "the outcome of sending them to /identify/ oldest first; a dry run unless --write. "
        f"Exit status {EXIT_OVERSIZED}: nothing written, clusters would pass their size limit; "
        f"{EXIT_REJECTED}: rows were rejected (the rest imported, or reported on a dry run)."
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
        parser.add_argument(
            "--no-progress",
            action="store_true",
            help="Hide the progress bars (shown only when stderr is a terminal).",
        )

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
        with ProgressBars(stream=self.stderr, enabled=not options["no_progress"]) as bars:
            rows, errors = self._read(path=path, file_format=file_format, bars=bars)
            for error in errors:
                self.stderr.write(f"{path.name}:{error.line}: {error.message}")
            result = contacts_import(
                rows=rows,
                label=path.name,
                write=options["write"],
                chunk_size=options["chunk_size"],
                phases=bars,
                allow_large_clusters=options["allow_large_clusters"],
            )
        for cluster in result.oversized:
            self.stderr.write(describe_oversized(cluster))
        self.stdout.write(describe_import(rows=rows, errors=errors, result=result))
        if options["write"] and not result.written:
            raise CommandError(
                f"Nothing written: {counted(len(result.oversized), 'cluster')} would pass "
                "their size limit (IDENTITY_MAX_CLUSTER_SIZE). Check them, then run again with "
                "--allow-large-clusters to import them anyway.",
                returncode=EXIT_OVERSIZED,
            )
        if errors:
            raise CommandError(
                f"{counted(len(errors), 'row')} rejected, listed above.", returncode=EXIT_REJECTED
            )

    def _read(
        self, *, path: Path, file_format: str, bars: ProgressBars
    ) -> tuple[list[ImportRow], list[RowError]]:
        try:
            progress = bars("reading", total=path.stat().st_size, unit="bytes")
            with path.open("rb") as stream:
                read = read_file(
                    stream=stream,
                    file_format=file_format,
                    default_created_at=timezone.now(),
                    progress=progress,
                )
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"Cannot read {path}: {error}") from error
        bars.close()
        return read


def describe_import(*, rows: list[ImportRow], errors: list[RowError], result: ImportResult) -> str:
    """The summary: the same figures for a dry run and a write of the same file."""
    verb = "Imported" if result.written else "Dry run, nothing written: would import"
    joined = sum(len(primaries) for primaries in result.merges)
    merged = f"{counted(joined, 'stored cluster')} merged"
    if result.merges:
        merged += f" into {len(result.merges)}"
    return (
        f"{verb} {counted(len(rows), 'valid row')} ({len(errors)} rejected): "
        f"{counted(result.contacts_created, 'contact')} created, "
        f"{counted(result.links_created, 'link record')}, "
        f"{counted(result.unchanged, 'row')} already known; "
        f"{counted(result.clusters_created, 'new cluster')}, "
        f"{counted(result.clusters_grown, 'stored cluster')} gained contacts, "
        f"{merged}, "
        f"{counted(len(result.relinked_ids), 'stored contact')} relinked; "
        f"{counted(result.blocked, 'row')} with only blocked values and "
        f"{counted(result.never_linked, 'row')} joining a never-link pair left out."
    )


def describe_oversized(cluster: OversizedCluster) -> str:
    """One line per cluster an import would take past its limit."""
    which = (
        f"the cluster of contact #{cluster.contact_id}"
        if cluster.contact_id is not None
        else "a cluster of imported contacts"
    )
    return f"{which} would have {counted(cluster.size, 'contact')} (limit {cluster.limit})"
