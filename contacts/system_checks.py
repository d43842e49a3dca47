"""The service's own entries in Django's system checks (``manage.py check --deploy``)."""

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register


@register(Tags.security, deploy=True)
def api_keys_required_check(app_configs: list[AppConfig] | None, **kwargs: object) -> list:
    """Keys off is for a loopback development server (``make run``), never a deployment."""
    if settings.API_KEYS_REQUIRED:
        return []
    warning: CheckMessage = Warning(
        "API keys are not required: anyone who can reach the service can read and link identities.",
        hint="Unset API_KEYS_REQUIRED (it defaults to true) and give each client a key: "
        "python manage.py create_api_key NAME --scope identify.",
        id="contacts.W001",
    )
    return [warning]
