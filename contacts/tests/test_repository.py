"""The repository stands alone: no file points outside it, and the documents' links resolve."""

import re
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
UPWARD_PATH = re.compile(r"(?<![\w.])((?:\.\./)+[\w.-][\w./-]*)")
MARKDOWN_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.fixture(scope="module")
def tracked_files() -> list[Path]:
    listing = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return [ROOT / name for name in listing.stdout.splitlines()]


def text_of(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, FileNotFoundError):
        return None


def test_no_file_refers_to_a_path_outside_the_repository(tracked_files):
    outside = [
        f"{path.relative_to(ROOT)}: {target}"
        for path in tracked_files
        if (text := text_of(path)) is not None
        for target in UPWARD_PATH.findall(text)
        if not (path.parent / target).resolve().is_relative_to(ROOT)
    ]

    assert outside == []


def test_the_documents_links_lead_to_files_in_the_repository(tracked_files):
    broken = [
        f"{path.relative_to(ROOT)} -> {target}"
        for path in tracked_files
        if path.suffix == ".md" and (text := text_of(path)) is not None
        for target in MARKDOWN_LINK.findall(text)
        if "://" not in target and not (path.parent / target).resolve().is_file()
    ]

    assert broken == []
