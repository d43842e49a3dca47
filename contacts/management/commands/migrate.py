"""``manage.py migrate`` with the operator's statement timeout instead of a request's.

A data migration on a large table, or an index built at release, would be cancelled by the 10 s
bound of a request (``contacts.database.operator_session``).
"""

from django.core.management.commands import migrate

from contacts.database import operator_session


class Command(migrate.Command):
    def handle(self, *args: object, **options: object) -> None:
        with operator_session(using=options["database"]):
            super().handle(*args, **options)
