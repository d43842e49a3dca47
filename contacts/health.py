"""Health checks: can the service serve requests (readiness)? Liveness needs no check."""

import logging
from dataclasses import dataclass

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor

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


READY = Readiness(checks={"database": "ok", "migrations": "ok"})
UNREACHABLE = Readiness(checks={"database": "unreachable"}, detail="The database is unreachable.")


def check_readiness() -> Readiness:
    """The database answers, and every migration on disk is applied to it."""
    try:
        # Building the plan reads the django_migrations table: it is the round trip to the database.
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError:
        logger.warning("readiness: the database is unreachable", exc_info=True)
        return UNREACHABLE
    if pending:
        return Readiness(
            checks={"database": "ok", "migrations": "pending"},
            detail=f"{len(pending)} migrations are not applied: run `python manage.py migrate`.",
        )
    return READY
