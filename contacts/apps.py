from django.apps import AppConfig
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created


class ContactsConfig(AppConfig):
    name = "contacts"
    verbose_name = "Identity reconciliation"

    def ready(self) -> None:
        from contacts import system_checks  # noqa: F401  (registers the checks)

        connection_created.connect(_set_up_connection, dispatch_uid="contacts.set_up_connection")


def _set_up_connection(*, connection: BaseDatabaseWrapper, **kwargs: object) -> None:
    from contacts.db import backend_for

    backend_for(connection).connection_created(connection)
