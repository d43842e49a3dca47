"""The interface every database implementation gives the services (``contacts.db.backend()``)."""

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model

from contacts.models import Source
from contacts.request_log import current_request_id
from contacts.rows import ContactRow
from contacts.rules import IdentifyPlan
from contacts.rules.events import Horizon


@dataclass(frozen=True)
class Applied:
    """What writing an ``/identify/`` plan created: the new contact, when the plan creates one."""

    new_id: int | None
    created_at: datetime | None


class ClusterRead(NamedTuple):
    """What ``/identify/``'s first statement reads: the matched clusters' live rows, oldest first,
    and the token of the governance decisions stored at that moment (docs/governance.md)."""

    rows: list[ContactRow]
    governance_token: int


def identify_request(*, plan: IdentifyPlan) -> dict[str, str | None]:
    """What the history of an ``/identify/`` write records of its request: the values (which
    stay inside the service, docs/privacy.md) and, when served over HTTP, the request id its
    events carry."""
    request = {"email": plan.email, "phone_number": plan.phone_number}
    request_id = current_request_id()
    return request if request_id is None else {**request, "id": request_id}


class DatabaseBackend(ABC):
    """What the services need from a database that the ORM does not say the same way on both."""

    row_locks: bool
    """Whether writers lock rows and identifiers (PostgreSQL), rather than the whole database for
    the transaction (SQLite's ``BEGIN IMMEDIATE``): see docs/concurrency.md."""

    def __init__(self, *, using: str) -> None:
        self.using = using

    @property
    def connection(self) -> BaseDatabaseWrapper:
        return connections[self.using]

    # --- POST /identify/ --------------------------------------------------------------------------

    @abstractmethod
    def cluster_rows(self, *, email: str | None, phone_number: str | None) -> ClusterRead:
        """Every live contact of every cluster that holds the email or the phone number (values
        that are not blocked), or an identifier a link record that is not blocked pairs with one
        of them (SPEC §3), oldest first, and the governance token; one statement on PostgreSQL."""

    @abstractmethod
    def apply_if_unchanged(self, *, plan: IdentifyPlan, source: Source) -> Applied | None:
        """Write ``plan`` and its history if the clusters it was made from are still exactly its
        rows and the governance decisions are still those of its token; ``None``, having written
        nothing, if either changed. Call in a transaction, with the plan's locks held
        (docs/concurrency.md)."""

    @abstractmethod
    def write_turn(self) -> AbstractContextManager[None]:
        """Wait, if the database needs it, for this writer's turn before its transaction."""

    # --- Session settings (docs/scaling.md) -----------------------------------------------------

    @abstractmethod
    def session_settings_missing(self) -> dict[str, tuple[str, str]]:
        """The settings every request's session must have (``DATABASE_SESSION_SETTINGS``) that
        this connection does not have in effect: ``{name: (wanted, in effect)}``."""

    @abstractmethod
    def role_settings_apply(self) -> list[str]:
        """Make ``DATABASE_SESSION_SETTINGS`` the connecting role's defaults in this database,
        for connections that cannot carry them as startup options (a pooler in transaction
        mode); the statements run."""

    @abstractmethod
    def statement_functions_install(self) -> None:
        """Create the functions of the hot statements, for sessions that cannot prepare them (a
        pooler in transaction mode); ``migrate`` runs it."""

    @abstractmethod
    def statement_functions_missing(self) -> list[str]:
        """The functions this configuration calls that the database lacks (``migrate`` creates
        them)."""

    def standby_lag(self) -> tuple[bool, float | None]:
        """Whether this database is a standby (a read replica), and how many seconds its data
        trails its primary's: 0 when it has replayed all it has received, ``None`` when unknown.
        A replica is a PostgreSQL standby: no other database has one (docs/scaling.md)."""
        raise NotImplementedError(f"{self.connection.vendor} has no read replicas")

    # --- Events (docs/events.md) ----------------------------------------------------------------

    @abstractmethod
    def history_horizon(self) -> tuple[int, Horizon | None]:
        """The last id the history has given out, and what the database says of the transactions
        that may still commit history rows up to it; ``None`` where the caller's transaction holds
        the whole database (SQLite), so that every id given out has settled."""

    # --- Bulk work (manage.py import_contacts) ----------------------------------------------------

    @abstractmethod
    def lock_contacts_table(self) -> None:
        """Hold off every other writer of contacts until the transaction ends; reads go on."""

    @abstractmethod
    def reserve_contact_ids(self, *, count: int) -> list[int]:
        """``count`` new contact ids, ascending. Call in the transaction that inserts them."""

    @abstractmethod
    def bulk_insert(
        self, *, model: type[Model], fields: list[str], rows: Iterable[tuple], batch_size: int
    ) -> None:
        """Insert rows of ``fields`` values, as fast as the database allows."""

    @abstractmethod
    def record_import_history(
        self,
        *,
        contact_ids: list[int],
        linked_ids: Sequence[int],
        label: str,
        now: datetime,
        batch_size: int,
    ) -> None:
        """One event per cluster that gained imported contacts, listing them: ``primary_created``
        for a new cluster, ``secondary_added`` for a stored one. ``linked_ids`` are the new
        contacts' links (0: a primary)."""

    # --- Sessions ---------------------------------------------------------------------------------

    @abstractmethod
    def operator_session(self) -> AbstractContextManager[None]:
        """Run an operator's command with the operator's bounds instead of a request's."""

    @abstractmethod
    def plans_for_values(self) -> None:
        """Plan the rest of the current transaction's statements for their values."""

    @abstractmethod
    def tables_analyze(self, *, models: list[type[Model]]) -> None:
        """Gather the planner's statistics of these tables now, in the caller's transaction."""

    @abstractmethod
    def connection_created(self, connection: BaseDatabaseWrapper) -> None:
        """Set up a new connection of this database (``connection_created``)."""
