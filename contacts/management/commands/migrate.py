"""``manage.py migrate`` with the operator's statement timeout instead of a request's.

A data migration on a large table, or an index built at release, would be cancelled by the 10 s
bound of a request (``DatabaseBackend.operator_session``).
"""

from django.core.management.commands import migrate

from contacts.db import backend


class Command(migrate.Command):
    def handle(self, *args: object, **options: object) -> None:
        with backend(using=options["database"]).operator_session():
            super().handle(*args, **options)
