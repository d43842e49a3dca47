"""Health checks: can the service serve requests (readiness)? Liveness needs no check."""

import logging
from dataclasses import dataclass

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

from contacts.db import backend
from contacts.db.routing import replica_status

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Readiness:
    """The state of each dependency; ``detail`` says what to fix when one is not ready."""

    checks: dict[str, str]
    detail: str = ""

    @property
    def ready(self) -> bool:
        return not self.detail

    @property
    def status(self) -> str:
        return "ok" if self.ready else "unavailable"

    @property
    def code(self) -> str:
        return "" if self.ready else "unavailable"


READY = Readiness(checks={"database": "ok", "migrations": "ok", "settings": "ok"})
UNREACHABLE = Readiness(checks={"database": "unreachable"}, detail="The database is unreachable.")


def check_readiness() -> Readiness:
    """The database answers, every migration on disk is applied to it (and, behind a pooler in
    transaction mode, the functions ``migrate`` creates exist), and the session has the
    timeouts every request relies on (behind a pooler in transaction mode they come from the
    role's settings, which nothing else would check: docs/scaling.md). A read replica's state is
    reported but never makes the service unready: reads fall back to the primary."""
    try:
        # Building the plan reads the django_migrations table: it is the round trip to the database.
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
        database = backend()
        missing = database.session_settings_missing()
        functions = database.statement_functions_missing()
    except DatabaseError:
        logger.warning("readiness: the database is unreachable", exc_info=True)
        return UNREACHABLE
    if pending or functions:
        if pending:
            what = f"{len(pending)} migrations are not applied"
        else:
            what = f"{', '.join(functions)} missing"
        return Readiness(
            checks={"database": "ok", "migrations": "pending", "settings": "ok"},
            detail=f"{what}: run `python manage.py migrate`.",
        )
    checks = {"database": "ok", "migrations": "ok", "settings": "ok"}
    replica = replica_status()
    if replica is not None:
        checks["replica"] = replica.state
    if missing:
        differences = ", ".join(
            f"{name} is {in_effect or 'unset'}, not {wanted}"
            for name, (wanted, in_effect) in sorted(missing.items())
        )
        return Readiness(
            checks={**checks, "settings": "missing"},
            detail=f"{differences}: run `python manage.py database_settings --apply`.",
        )
    return Readiness(checks=checks)
