"""Everything that differs between PostgreSQL and SQLite, behind one interface.

``backend()`` is the one place that asks which database the service runs on. The services, the
locking protocol and the commands call the ``DatabaseBackend`` it returns (``base.py``); each
database's implementation is one module: ``postgresql.py`` (hand-written statements for the hot
path and for bulk work, the planner's statistics, session settings) and ``sqlite.py`` (the ORM, and
the writers' turns). ``contacts/tests/test_database_backend.py`` runs the same contract against
whichever database the suite runs on.
"""

from functools import cache

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from contacts.db.base import Applied, DatabaseBackend

__all__ = ["Applied", "DatabaseBackend", "backend", "backend_for"]


def backend(*, using: str = DEFAULT_DB_ALIAS) -> DatabaseBackend:
    """The implementation for the database of connection ``using``."""
    return backend_for(connections[using])


def backend_for(connection: BaseDatabaseWrapper) -> DatabaseBackend:
    """The implementation for ``connection``'s database, also for a connection Django makes
    outside ``connections`` (the one that creates the test database)."""
    return _backend(using=connection.alias, vendor=connection.vendor)


@cache
def _backend(*, using: str, vendor: str) -> DatabaseBackend:
    if vendor == "postgresql":
        from contacts.db.postgresql import PostgreSQLBackend

        return PostgreSQLBackend(using=using)
    if vendor == "sqlite":
        from contacts.db.sqlite import SQLiteBackend

        return SQLiteBackend(using=using)
    raise NotImplementedError(f"no database backend for {vendor}")
