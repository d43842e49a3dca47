"""The deploy files agree with the application: one start command, migrations, health checks, and
the events worker."""

import json
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands
from django.urls import reverse

ROOT = Path(settings.BASE_DIR)
START = "gunicorn --config gunicorn.conf.py bitespeed.wsgi"
MIGRATE = "python manage.py migrate --noinput"
WORKER = "python manage.py deliver_events"


def render_services() -> dict[str, dict]:
    """The Blueprint's services by type."""
    services = yaml.safe_load((ROOT / "render.yaml").read_text())["services"]
    return {service["type"]: service for service in services}


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def test_every_platform_starts_gunicorn_with_the_config_and_migrates_first():
    railway = json.loads((ROOT / "railway.json").read_text())["deploy"]
    render = render_services()["web"]

    assert procfile() == {"release": MIGRATE, "web": START, "worker": WORKER}
    assert railway["startCommand"] == START
    assert railway["preDeployCommand"] == [MIGRATE]
    assert render["startCommand"] == START
    assert render["preDeployCommand"] == MIGRATE
    assert "collectstatic --noinput" in render["buildCommand"]


def test_platform_health_checks_probe_readiness():
    railway = json.loads((ROOT / "railway.json").read_text())["deploy"]
    render = render_services()["web"]

    assert railway["healthcheckPath"] == render["healthCheckPath"] == reverse("health-ready")


def test_the_render_blueprint_shares_a_private_key_value_store_for_the_rate_limit():
    services = render_services()
    [redis_url] = [env for env in services["web"]["envVars"] if env["key"] == "REDIS_URL"]

    assert redis_url["fromService"] == {
        "type": "keyvalue",
        "name": services["keyvalue"]["name"],
        "property": "connectionString",
    }
    assert services["keyvalue"]["ipAllowList"] == []


def test_the_events_worker_runs_the_command_on_the_web_service_s_database_and_key():
    services = render_services()
    worker, web = services["worker"], services["web"]
    variables = {env["key"]: env for env in worker["envVars"]}

    assert get_commands()[WORKER.split()[-1]] == "contacts"
    assert worker["startCommand"] == WORKER
    assert "healthCheckPath" not in worker
    assert variables["DATABASE_URL"] == next(
        env for env in web["envVars"] if env["key"] == "DATABASE_URL"
    )
    assert variables["SECRET_KEY"]["fromService"] == {
        "type": "web",
        "name": web["name"],
        "envVarKey": "SECRET_KEY",
    }


def test_railways_worker_config_builds_the_web_image_and_runs_only_the_worker():
    web = json.loads((ROOT / "railway.json").read_text())
    worker = json.loads((ROOT / "railway.worker.json").read_text())

    assert worker["build"] == web["build"]
    assert worker["deploy"]["startCommand"] == WORKER
    assert "healthcheckPath" not in worker["deploy"]
    assert "preDeployCommand" not in worker["deploy"]
    assert "/railway.worker.json" in (ROOT / "docs" / "operations.md").read_text()


def test_the_image_runs_the_same_start_command_and_collects_static_files():
    dockerfile = (ROOT / "Dockerfile").read_text()

    assert f"CMD {json.dumps(START.split())}" in dockerfile
    assert "manage.py collectstatic --noinput" in dockerfile
    assert "\nUSER 10001:10001\n" in dockerfile


@pytest.mark.parametrize(
    ("env", "bind", "workers", "worker_class", "threads"),
    [
        ({}, "0.0.0.0:8000", 2, "JSONErrorThreadWorker", 4),
        (
            {"PORT": "8151", "WEB_CONCURRENCY": "3", "GUNICORN_THREADS": "4"},
            "0.0.0.0:8151",
            3,
            "JSONErrorThreadWorker",
            4,
        ),
        ({"GUNICORN_WORKER_CLASS": "sync"}, "0.0.0.0:8000", 2, "JSONErrorSyncWorker", 1),
    ],
)
def test_gunicorn_binds_port_and_runs_the_configured_workers(
    django_process, env, bind, workers, worker_class, threads
):
    unset = {"PORT": None, "WEB_CONCURRENCY": None, "GUNICORN_THREADS": None}

    result = django_process(
        "-m",
        "gunicorn",
        "--config",
        "gunicorn.conf.py",
        "--print-config",
        "bitespeed.wsgi",
        env={**unset, **env},
    )

    assert result.returncode == 0, result.stderr
    printed = dict(
        (name.strip(), value.strip())
        for name, value in (
            line.split("=", 1) for line in result.stdout.splitlines() if "=" in line
        )
    )
    assert printed["bind"] == f"['{bind}']"
    assert printed["workers"] == str(workers)
    assert printed["worker_class"].endswith(worker_class)
    assert printed["threads"] == str(threads)
