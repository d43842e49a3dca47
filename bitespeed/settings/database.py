"""The database: SQLite by default, PostgreSQL from ``DATABASE_URL`` (directly or through a pooler
in transaction mode), an optional read replica, and the bounds of every wait (docs/concurrency.md,
docs/scaling.md)."""

import os

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from bitespeed.settings.environment import BASE_DIR, env_bool, env_int

# DATABASE_URL selects the database; the default is an SQLite file in the project.
# https://github.com/jazzband/dj-database-url

DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        # Persistent connections: 1.1-2.4x the /identify/ throughput of CONN_MAX_AGE=0 here.
        conn_max_age=env_int("CONN_MAX_AGE", default=60),
        # Off by default (as in Django): the check is a `SELECT 1` round trip on every request.
        # Without it, /identify/ reconnects and retries when its connection turns out to be dead
        # (contacts.locking). https://docs.djangoproject.com/en/5.2/ref/settings/#conn-health-checks
        conn_health_checks=env_bool("CONN_HEALTH_CHECKS", default=False),
    )
}

# Seconds an SQLite writer waits for the database's write lock (docs/concurrency.md).
SQLITE_BUSY_TIMEOUT = env_int("SQLITE_BUSY_TIMEOUT", default=5)

# PostgreSQL: a pooler in transaction mode, and the settings each request's session must have.
DATABASE_POOL_MODE = "session"
DATABASE_SESSION_SETTINGS: dict[str, int | str] = {}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers take the database lock at BEGIN (no lock upgrades, so no deadlocks), readers keep
    # reading during writes (WAL). See docs/concurrency.md.
    # https://docs.djangoproject.com/en/5.2/ref/databases/#sqlite-transaction-behavior
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": SQLITE_BUSY_TIMEOUT,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        **DATABASES["default"].get("OPTIONS", {}),
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Parameters bound by the server, and each statement prepared once a connection has run it 5
    # times (Django leaves preparation off unless prepare_threshold is set): PostgreSQL parses and
    # plans the hot statements of /identify/ once per connection, not on every request. Prepared
    # statements keep one generic plan: with custom plans (PostgreSQL's default choice for the
    # hot statements) it planned them again on every request, half of a write's CPU
    # (bench/RESULTS.md). While the contacts table is small, its statistics follow its growth, so
    # that no plan made for an empty table is kept as it grows
    # (contacts/db/postgresql.py); work on batches of values is planned for its values
    # (DatabaseBackend.plans_for_values).
    # https://docs.djangoproject.com/en/5.2/ref/databases/#server-side-parameters-binding
    # https://www.psycopg.org/psycopg3/docs/advanced/prepare.html
    # Behind a pooler in transaction mode (PgBouncer's pool_mode=transaction), a server connection
    # serves another client after each transaction: no startup options (PgBouncer refuses them),
    # no named prepared statements or server-side cursors (they would outlive the transaction),
    # and the timeouts below come from the role's settings in the database instead, which
    # `manage.py database_settings --apply` writes and /health/ready/ checks (docs/scaling.md).
    DATABASE_POOL_MODE = os.environ.get("DATABASE_POOL_MODE", "session")
    if DATABASE_POOL_MODE not in ("session", "transaction"):
        raise ImproperlyConfigured(
            f"DATABASE_POOL_MODE={DATABASE_POOL_MODE}: give session (a direct connection or a "
            "pooler in session mode) or transaction (a pooler in transaction mode)."
        )
    pooled = DATABASE_POOL_MODE == "transaction"
    prepared_statements = env_bool("DATABASE_SERVER_SIDE_BINDING", default=True)
    # Every wait is bounded, so the database gives up before gunicorn's worker timeout: a request
    # that cannot get its locks in time answers 503 instead of hanging (docs/concurrency.md).
    # Operator commands lift the statement bounds for themselves (OPERATOR_STATEMENT_TIMEOUT_MS).
    # https://www.postgresql.org/docs/15/runtime-config-client.html
    session_settings = {
        "lock_timeout": env_int("DB_LOCK_TIMEOUT_MS", default=3_000),
        "statement_timeout": env_int("DB_STATEMENT_TIMEOUT_MS", default=10_000),
        "idle_in_transaction_session_timeout": env_int(
            "DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", default=30_000
        ),
        **({"plan_cache_mode": "force_generic_plan"} if prepared_statements and not pooled else {}),
    }
    connection_options = {
        "connect_timeout": env_int("DB_CONNECT_TIMEOUT", default=3),
        "application_name": os.environ.get("DB_APPLICATION_NAME", "bitespeed"),
        **(
            {}
            if pooled
            else {
                "options": " ".join(
                    f"-c {name}={value}" for name, value in session_settings.items()
                )
            }
        ),
        "server_side_binding": prepared_statements,
        "prepare_threshold": 5 if prepared_statements and not pooled else None,
    }
    # Options in DATABASE_URL's query string, such as sslmode, win.
    DATABASES["default"]["OPTIONS"] = {
        **connection_options,
        **DATABASES["default"].get("OPTIONS", {}),
    }
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = pooled
    # What every request's session must have in effect (checked by /health/ready/).
    DATABASE_SESSION_SETTINGS = session_settings

# A read replica (a PostgreSQL streaming standby, or a pooler in front of one, in the same pool
# mode as the primary's): the admin's lists and cluster pages, an identity's explanation and
# history, and the operators' checks and reports read from it while it is no more than
# REPLICA_MAX_LAG seconds behind; /identify/, the lookup and every write use the primary
# (contacts/db/routing.py, docs/scaling.md).
REPLICA_MAX_LAG = float(os.environ.get("REPLICA_MAX_LAG", "").strip() or 5)
DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL", "").strip()
if DATABASE_REPLICA_URL:
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured(
            "DATABASE_REPLICA_URL is a PostgreSQL standby: it needs a PostgreSQL DATABASE_URL."
        )
    replica = dj_database_url.parse(
        DATABASE_REPLICA_URL,
        conn_max_age=DATABASES["default"]["CONN_MAX_AGE"],
        conn_health_checks=DATABASES["default"]["CONN_HEALTH_CHECKS"],
    )
    DATABASES["replica"] = {
        **replica,
        "OPTIONS": {**connection_options, **replica.get("OPTIONS", {})},
        "DISABLE_SERVER_SIDE_CURSORS": DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"],
        # Tests read the test database through this alias too; a real standby is tested by
        # contacts/tests/test_replica.py (make test-replica).
        "TEST": {"MIRROR": "default"},
    }
    DATABASE_ROUTERS = ["contacts.db.routing.ReplicaRouter"]

# Operator work (migrate, import_contacts, reconcile) runs with this statement and
# idle-in-transaction timeout instead of a request's (DatabaseBackend.operator_session); 0 means
# none. Its lock timeout stays DB_LOCK_TIMEOUT_MS.
OPERATOR_STATEMENT_TIMEOUT_MS = env_int("DB_OPERATOR_STATEMENT_TIMEOUT_MS", default=3_600_000)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
