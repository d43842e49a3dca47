"""Production settings from the environment: `check --deploy` is clean, no SECRET_KEY no start,
gunicorn binds HOST:PORT."""

import json
import secrets

import pytest

SECRET_KEY = secrets.token_urlsafe(50)

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": SECRET_KEY,
    "ALLOWED_HOSTS": "identify.example.com",
    "HTTPS": "true",
}
# Railway sets only its public domain; the service derives hosts and HTTPS from it.
RAILWAY = {"DEBUG": "false", "SECRET_KEY": SECRET_KEY, "RAILWAY_PUBLIC_DOMAIN": "id.up.railway.app"}

CHECK_DEPLOY = ("manage.py", "check", "--deploy", "--fail-level", "WARNING")

SHOW_SETTINGS = """
import json
import django
django.setup()
from django.conf import settings
print(json.dumps({
    "ALLOWED_HOSTS": settings.ALLOWED_HOSTS,
    "CSRF_TRUSTED_ORIGINS": settings.CSRF_TRUSTED_ORIGINS,
    "SECURE_SSL_REDIRECT": settings.SECURE_SSL_REDIRECT,
    "SECURE_PROXY_SSL_HEADER": settings.SECURE_PROXY_SSL_HEADER,
}))
"""


@pytest.mark.parametrize("env", [PRODUCTION, RAILWAY], ids=["explicit", "railway"])
def test_check_deploy_reports_nothing_in_production(django_process, env):
    result = django_process(*CHECK_DEPLOY, env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_flags_a_service_served_without_https(django_process):
    result = django_process(*CHECK_DEPLOY, env={**PRODUCTION, "HTTPS": "false"})

    assert result.returncode != 0
    assert "security.W008" in result.stderr
    assert "security.W004" in result.stderr


def test_missing_secret_key_refuses_to_start(django_process):
    result = django_process("manage.py", "check", env={"DEBUG": "false", "SECRET_KEY": ""})

    assert result.returncode == 1
    assert result.stderr.startswith("Configuration error: SECRET_KEY is not set.")
    assert "Set the SECRET_KEY environment variable" in result.stderr


@pytest.mark.parametrize("key", ["change-me", "django-insecure-" + SECRET_KEY])
def test_a_published_secret_key_refuses_to_start_in_production(django_process, key):
    refused = django_process("manage.py", "check", env={"DEBUG": "false", "SECRET_KEY": key})
    developing = django_process("manage.py", "check", env={"DEBUG": "true", "SECRET_KEY": key})

    assert refused.returncode == 1
    assert refused.stderr.startswith("Configuration error: SECRET_KEY is a published example")
    assert developing.returncode == 0, developing.stderr


@pytest.mark.parametrize(
    ("host", "bind"),
    [
        (None, "0.0.0.0:8000"),
        ("127.0.0.1", "127.0.0.1:8000"),
        ("::1", "[::1]:8000"),
        ("[::1]", "[::1]:8000"),
    ],
)
def test_gunicorn_binds_host_beside_port(django_process, host, bind):
    result = django_process(
        "-m",
        "gunicorn",
        "--config",
        "gunicorn.conf.py",
        "--print-config",
        "bitespeed.wsgi",
        env={"HOST": host, "PORT": None},
    )

    assert result.returncode == 0, result.stderr
    printed = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert {name.strip(): value.strip() for name, value in printed.items()}["bind"] == f"['{bind}']"


def test_a_platform_domain_is_allowed_trusted_and_served_over_https(django_process):
    result = django_process("-c", SHOW_SETTINGS, env=RAILWAY)

    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert "id.up.railway.app" in shown["ALLOWED_HOSTS"]
    assert shown["CSRF_TRUSTED_ORIGINS"] == ["https://id.up.railway.app"]
    assert shown["SECURE_SSL_REDIRECT"] is True
    assert shown["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


SHOW_LIMITS = """
import json
import django
django.setup()
from django.conf import settings
from rest_framework.throttling import ScopedRateThrottle
print(json.dumps({
    "rate": ScopedRateThrottle.THROTTLE_RATES["identify"],
    "cache": settings.CACHES["default"],
}))
"""


def test_the_rate_limit_and_its_shared_cache_come_from_the_environment(django_process):
    env = {"IDENTIFY_RATE_LIMIT": "600/min", "REDIS_URL": "redis://cache.internal:6379/1"}

    result = django_process("-c", SHOW_LIMITS, env=env)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "rate": "600/min",
        "cache": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://cache.internal:6379/1",
        },
    }


SHOW_DATABASE = """
import json
import django
django.setup()
from django.conf import settings
database = settings.DATABASES["default"]
print(json.dumps({
    "options": database["OPTIONS"].get("options"),
    "prepare_threshold": database["OPTIONS"]["prepare_threshold"],
    "server_side_cursors": not database["DISABLE_SERVER_SIDE_CURSORS"],
    "wanted": settings.DATABASE_SESSION_SETTINGS,
}))
"""
POSTGRES = {"DATABASE_URL": "postgres://app@db.internal:5432/identity"}


def test_behind_a_pooler_in_transaction_mode_nothing_outlives_a_transaction(django_process):
    pooled = django_process(
        "-c", SHOW_DATABASE, env={**POSTGRES, "DATABASE_POOL_MODE": "transaction"}
    )
    direct = django_process("-c", SHOW_DATABASE, env=POSTGRES)

    assert pooled.returncode == direct.returncode == 0, pooled.stderr + direct.stderr
    pooled, direct = json.loads(pooled.stdout), json.loads(direct.stdout)
    assert pooled == {
        "options": None,
        "prepare_threshold": None,
        "server_side_cursors": False,
        "wanted": {
            "lock_timeout": 3000,
            "statement_timeout": 10000,
            "idle_in_transaction_session_timeout": 30000,
        },
    }
    assert direct["options"].split() == [
        "-c",
        "lock_timeout=3000",
        "-c",
        "statement_timeout=10000",
        "-c",
        "idle_in_transaction_session_timeout=30000",
        "-c",
        "plan_cache_mode=force_generic_plan",
    ]
    assert (direct["prepare_threshold"], direct["server_side_cursors"]) == (5, True)


def test_an_unknown_pool_mode_stops_the_start(django_process):
    result = django_process(
        "-c", SHOW_DATABASE, env={**POSTGRES, "DATABASE_POOL_MODE": "statement"}
    )

    assert result.returncode != 0
    assert "DATABASE_POOL_MODE=statement" in result.stderr


SHOW_REPLICA = """
import json
import django
django.setup()
from django.conf import settings
replica = settings.DATABASES["replica"]
print(json.dumps({
    "host": replica["HOST"],
    "options": replica["OPTIONS"],
    "mirror": replica["TEST"]["MIRROR"],
    "routers": settings.DATABASE_ROUTERS,
    "max_lag": settings.REPLICA_MAX_LAG,
}))
"""


def test_a_replica_connects_as_the_primary_does_with_its_own_url_options(django_process):
    result = django_process(
        "-c",
        SHOW_REPLICA,
        env={
            **POSTGRES,
            "DATABASE_POOL_MODE": "transaction",
            "DATABASE_REPLICA_URL": "postgres://app@standby.internal:5432/identity?sslmode=require",
            "REPLICA_MAX_LAG": "2.5",
        },
    )

    assert result.returncode == 0, result.stderr
    replica = json.loads(result.stdout)
    assert replica["host"] == "standby.internal"
    assert replica["options"]["sslmode"] == "require"
    assert replica["options"]["prepare_threshold"] is None
    assert "options" not in replica["options"]
    assert replica["mirror"] == "default"
    assert replica["routers"] == ["contacts.db.routing.ReplicaRouter"]
    assert replica["max_lag"] == 2.5


def test_a_replica_beside_sqlite_stops_the_start(django_process):
    result = django_process(
        "-c",
        SHOW_REPLICA,
        env={
            "DATABASE_URL": "sqlite:///replica.sqlite3",
            "DATABASE_REPLICA_URL": POSTGRES["DATABASE_URL"],
        },
    )

    assert result.returncode != 0
    assert "DATABASE_REPLICA_URL" in result.stderr
