"""Files of a shop's order history for ``import_contacts``: CSV or JSON Lines, one order a record.

A record has an email, a phone number (either may be missing or empty) and an optional created time
(ISO 8601; without a zone it is UTC). Values are validated and normalized as ``POST /identify/``
does them (``contacts.normalize``). A bad record becomes a ``RowError`` with its line number and the
reading goes on.
"""

import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from contacts.normalize import InvalidIdentifier, normalize_email, normalize_phone_number
from contacts.rules import ImportRow

FORMATS = ("csv", "jsonl")
# Accepted names of each column / key, the API's spelling first.
EMAIL_KEYS = ("email",)
PHONE_KEYS = ("phoneNumber", "phone_number", "phone")
CREATED_KEYS = ("createdAt", "created_at")


@dataclass(frozen=True, slots=True)
class RowError:
    """A record that cannot be imported, and why."""

    line: int
    message: str


def format_of(filename: str) -> str | None:
    """The format a file name implies: ``csv`` or ``jsonl`` (also ``.ndjson``), else ``None``."""
    suffix = filename.rsplit(".", 1)[-1].lower()
    return {"csv": "csv", "jsonl": "jsonl", "ndjson": "jsonl"}.get(suffix)


def file_digest(stream: BinaryIO) -> str:
    """The SHA-256 of a file's bytes, in hex; the stream is read from its start and left there.

    The admin's import shows it with the dry run and applies only a file with the same digest.
    """
    stream.seek(0)
    digest = hashlib.sha256()
    for block in iter(lambda: stream.read(1 << 16), b""):
        digest.update(block)
    stream.seek(0)
    return digest.hexdigest()


def read_file(
    *,
    stream: BinaryIO,
    file_format: str,
    default_created_at: datetime,
    progress: Callable[[int], object] = lambda count: None,
) -> tuple[list[ImportRow], list[RowError]]:
    """``read_rows`` over a file of UTF-8 text (a byte order mark is skipped); ``progress`` is
    told how many more bytes were read. Raises ``UnicodeDecodeError`` on other encodings."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    try:
        return read_rows(
            lines=_reporting(text, stream=stream, progress=progress),
            file_format=file_format,
            default_created_at=default_created_at,
        )
    finally:
        text.detach()


def _reporting(
    lines: Iterable[str], *, stream: BinaryIO, progress: Callable[[int], object]
) -> Iterator[str]:
    """``lines``, telling ``progress`` every thousand lines how many more bytes the text layer
    took from ``stream``."""
    reported = stream.tell()
    for count, line in enumerate(lines, start=1):
        yield line
        if count % 1000 == 0:
            position = stream.tell()
            progress(position - reported)
            reported = position
    progress(stream.tell() - reported)


def read_rows(
    *, lines: Iterable[str], file_format: str, default_created_at: datetime
) -> tuple[list[ImportRow], list[RowError]]:
    """Parse, validate and normalize every record; rows without a created time get the default."""
    rows, errors = [], []
    records = _csv_records(lines) if file_format == "csv" else _jsonl_records(lines)
    for line, record in records:
        try:
            rows.append(_import_row(line=line, record=record, default=default_created_at))
        except ValueError as error:
            errors.append(RowError(line=line, message=str(error)))
    return rows, errors


def _csv_records(lines: Iterable[str]) -> Iterator[tuple[int, dict | ValueError]]:
    reader = csv.reader(lines)
    header = next(reader, [])
    for values in reader:
        if values:
            yield reader.line_num, dict(zip(header, values, strict=False))


def _jsonl_records(lines: Iterable[str]) -> Iterator[tuple[int, dict | ValueError]]:
    for line, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as error:
            yield line, ValueError(f"not JSON: {error.msg}")
            continue
        yield line, record if isinstance(record, dict) else ValueError("not a JSON object")


def _first(record: dict, keys: tuple[str, ...]) -> object:
    for key in keys:
        value = record.get(key)
        if value is not None:
            return value
    return None


def _import_row(*, line: int, record: dict | ValueError, default: datetime) -> ImportRow:
    if isinstance(record, ValueError):
        raise record
    problems = []
    email = phone_number = None
    try:
        email = normalize_email(_first(record, EMAIL_KEYS))
    except InvalidIdentifier as error:
        problems.append(f"email: {error}")
    try:
        phone_number = normalize_phone_number(_first(record, PHONE_KEYS))
    except InvalidIdentifier as error:
        problems.append(f"phoneNumber: {error}")
    created_at = _created_at(_first(record, CREATED_KEYS), problems=problems)
    if not problems and email is None and phone_number is None:
        problems.append("needs an email or a phone number")
    if problems:
        raise ValueError("; ".join(problems))
    return ImportRow(
        line=line, email=email, phone_number=phone_number, created_at=created_at or default
    )


def _created_at(value: object, *, problems: list[str]) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        parsed = parse_datetime(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        problems.append("createdAt: not an ISO 8601 date and time")
        return None
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)
