from django.apps import AppConfig
from django.core.signals import request_finished
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created


class ContactsConfig(AppConfig):
    name = "contacts"
    verbose_name = "Identity reconciliation"

    def ready(self) -> None:
        from contacts import system_checks  # noqa: F401  (registers the checks)
        from contacts.metrics import connections_record

        connection_created.connect(_set_up_connection, dispatch_uid="contacts.set_up_connection")
        # After Django's own close_old_connections (connected when django.db is imported): the
        # metrics see the connections each request thread keeps.
        request_finished.connect(
            connections_record, dispatch_uid="contacts.metrics.connections_record"
        )


def _set_up_connection(*, connection: BaseDatabaseWrapper, **kwargs: object) -> None:
    from contacts.db import backend_for

    backend_for(connection).connection_created(connection)
