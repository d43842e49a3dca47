"""``manage.py create_api_key NAME --scope identify``: make a client's API key and print it once."""

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from contacts.models import Scope
from contacts.services.api_keys import api_key_create


def expiry(value: str) -> datetime:
    """An ISO 8601 date or time; a time without a zone is in UTC."""
    parsed = parse_datetime(value) or parse_datetime(f"{value}T00:00:00")
    if parsed is None:
        raise ValueError(value)
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)


class Command(BaseCommand):
    help = (
        "Make an API key for one client (a shop's backend, an integration) and print it: it is "
        "stored only as a hash and cannot be shown again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Who the key is for, e.g. 'shop checkout backend'.")
        parser.add_argument(
            "--scope",
            action="append",
            required=True,
            choices=Scope.values,
            help="What the key may call; repeat for several (identify includes lookup).",
        )
        parser.add_argument(
            "--expires", type=expiry, help="When the key stops working (ISO 8601, UTC)."
        )

    def handle(self, *args: object, **options: object) -> None:
        name = str(options["name"]).strip()
        if not name:
            raise CommandError("Give the key a name.")
        api_key, key = api_key_create(
            name=name, scopes=options["scope"], expiry_date=options["expires"]
        )
        self.stderr.write(
            f"API key {api_key.prefix} for {name!r}, scopes {', '.join(api_key.scopes)}; "
            "store it now, it cannot be shown again:"
        )
        self.stdout.write(key)
