"""Who may call the API: clients' keys and what each may do (docs/api.md)."""

from django.db import models
from rest_framework_api_key.models import AbstractAPIKey


class Scope(models.TextChoices):
    """What an API key may do. ``identify`` includes everything ``lookup`` may."""

    IDENTIFY = "identify", "identify: POST /identify/ and the read endpoints"
    LOOKUP = "lookup", "lookup: the read endpoints only"
    PRIVACY = "privacy", "privacy: erasures and exports of a person's data (/privacy/)"
    EVENTS = "events", "events: the feed of identity events (/events/)"
    METRICS = "metrics", "metrics: the service's metrics for Prometheus (/metrics)"


class ApiKey(AbstractAPIKey):
    """A client's key (a shop's backend, an integration), stored as its SHA-512 hash.

    The key is shown once, when it is made; ``prefix`` (its first 8 characters) names it in logs
    and in the admin. ``last_used_at`` is written at most once a minute
    (``contacts.services.api_keys``).
    """

    scopes = models.JSONField(
        default=list,
        help_text=(
            "What the key may call: identify, lookup, privacy, events, metrics (docs/api.md)."
        ),
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"
