"""`make help` (the default goal) lists every target of the Makefile, one line each."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def make(*args: str) -> str:
    result = subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout


def declared_targets() -> set[str]:
    """The targets named in ``.PHONY``, and the file targets meant to be run by name."""
    makefile = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    [phony] = re.findall(r"^\.PHONY:(.*)$", makefile, flags=re.MULTILINE)
    return {*phony.split(), ".env"}


def test_help_lists_every_target_with_a_description():
    lines = make("help").splitlines()
    listed = dict(line.split(maxsplit=1) for line in lines)

    assert set(listed) == declared_targets()
    assert all(description.strip() for description in listed.values())


def test_make_alone_shows_the_help():
    assert make() == make("help")
