"""``manage.py database_settings``: the timeouts every request's session must have, and, with
``--apply``, the role's defaults that give them to sessions opened through a pooler in
transaction mode, which cannot carry them as startup options (docs/scaling.md)."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from contacts.db import backend


class Command(BaseCommand):
    help = (
        "Show whether this connection's session has the settings every request needs "
        "(DB_LOCK_TIMEOUT_MS, DB_STATEMENT_TIMEOUT_MS, …); --apply makes them the role's "
        "defaults in this database, for a pooler in transaction mode."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--apply",
            action="store_true",
            help="ALTER ROLE CURRENT_USER IN DATABASE … SET each setting; new server "
            "connections get them (reconnect the pooler's, e.g. PgBouncer's RECONNECT).",
        )

    def handle(self, *args: object, **options: object) -> None:
        if not settings.DATABASE_SESSION_SETTINGS:
            self.stdout.write("Nothing to set: the database is not PostgreSQL.")
            return
        database = backend()
        if options["apply"]:
            for statement in database.role_settings_apply():
                self.stdout.write(statement)
        missing = database.session_settings_missing()
        for name, value in settings.DATABASE_SESSION_SETTINGS.items():
            state = f"{missing[name][1] or 'unset'} (wanted {value})" if name in missing else "ok"
            self.stdout.write(f"{name}: {state}")
        if missing and not options["apply"]:
            raise CommandError(
                "This session lacks settings every request relies on: run "
                "`python manage.py database_settings --apply`."
            )
