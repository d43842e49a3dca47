"""One list of settings: what the settings read, what `.env.example` lists and what the
configuration table of docs/operations.md explains are the same variables."""

import re
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
# The settings module and gunicorn's configuration read the environment through these.
READ = re.compile(
    r"""(?:env_int|env_bool|env_list|os\.environ\.get)\(\s*["']([A-Z][A-Z0-9_]+)["']"""
)
EXAMPLE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]+)=", re.MULTILINE)
TABLE_ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]+)` \|", re.MULTILINE)


@pytest.fixture(scope="module")
def read_by_the_settings() -> set[str]:
    sources = [*sorted((ROOT / "bitespeed" / "settings").glob("*.py")), ROOT / "gunicorn.conf.py"]
    text = "\n".join(source.read_text() for source in sources)
    names = set(READ.findall(text))
    if "dj_database_url.config(" in text:
        names.add("DATABASE_URL")
    return names


def configuration_table() -> set[str]:
    operations = (ROOT / "docs" / "operations.md").read_text()
    section = operations[operations.index("## Configuration") :]
    section = section[: section.index("\n## ", 1)]
    return set(TABLE_ROW.findall(section))


def test_env_example_lists_exactly_what_the_settings_read(read_by_the_settings):
    listed = set(EXAMPLE.findall((ROOT / ".env.example").read_text()))

    assert listed == read_by_the_settings


def test_the_configuration_table_explains_exactly_what_the_settings_read(read_by_the_settings):
    assert configuration_table() == read_by_the_settings
