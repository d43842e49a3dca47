from django.apps import AppConfig
from django.db.backends.signals import connection_created


class ContactsConfig(AppConfig):
    name = "contacts"
    verbose_name = "Identity reconciliation"

    def ready(self) -> None:
        from contacts.database import statistics_follow_growth

        connection_created.connect(
            statistics_follow_growth, dispatch_uid="contacts.statistics_follow_growth"
        )
