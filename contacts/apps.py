from django.apps import AppConfig
from django.core.signals import request_finished
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


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
        post_migrate.connect(
            _install_statement_functions, sender=self, dispatch_uid="contacts.statement_functions"
        )


def _set_up_connection(*, connection: BaseDatabaseWrapper, **kwargs: object) -> None:
    from contacts.db import backend_for

    backend_for(connection).connection_created(connection)


def _install_statement_functions(*, using: str, **kwargs: object) -> None:
    """After every ``migrate``: the hot statements' functions of this release, which a pooler in
    transaction mode calls instead of preparing them (``StatementFunction``)."""
    from contacts.db import backend

    backend(using=using).statement_functions_install()
