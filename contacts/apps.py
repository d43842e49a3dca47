from django.apps import AppConfig
from django.db.backends.signals import connection_created


class ContactsConfig(AppConfig):
    name = "contacts"
    verbose_name = "Identity reconciliation"

    def ready(self) -> None:
        from contacts.database import operator_timeouts_on_connect

        connection_created.connect(
            operator_timeouts_on_connect, dispatch_uid="contacts.operator_timeouts"
        )
