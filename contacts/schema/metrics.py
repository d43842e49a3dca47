"""The description of ``GET /metrics``: Prometheus' text format, for a key with the ``metrics``
scope (docs/operations.md, "Metrics")."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema

from contacts.exceptions import ServiceUnavailable
from contacts.metrics import CONTENT_TYPE
from contacts.models import Scope
from contacts.schema.common import (
    UNAUTHENTICATED,
    access_examples,
    error_example,
    error_response,
)

MEDIA_TYPE = CONTENT_TYPE.split(";", maxsplit=1)[0]

SAMPLE = """\
# HELP bitespeed_identity_merges_total Writes that joined two or more identities into one, …
# TYPE bitespeed_identity_merges_total counter
bitespeed_identity_merges_total{source="api"} 42.0
# HELP bitespeed_held_merges_pending Held merges waiting for a person's decision in the admin.
# TYPE bitespeed_held_merges_pending gauge
bitespeed_held_merges_pending 3.0
"""

metrics_schema = extend_schema(
    summary="The service's metrics, for Prometheus",
    description=(
        "Prometheus' text format (`text/plain; version=0.0.4`): requests and their latency by "
        "endpoint and outcome, 503s by reason, merges and held merges, the threads and database "
        "connections in use, and, read when scraped, the held merges waiting, the events "
        "waiting to be sequenced or delivered and the read replica's lag. Under gunicorn, the "
        "counts of every worker process of the server that answers. No label carries an email, "
        "a phone number or an id. Scope: `metrics` (no other scope includes it)."
    ),
    responses={
        (200, MEDIA_TYPE): OpenApiResponse(OpenApiTypes.STR, description="The metrics."),
        401: error_response(UNAUTHENTICATED),
        403: error_response("The API key lacks the `metrics` scope."),
        503: error_response("The database is busy or unreachable. `Retry-After`."),
    },
    examples=[
        OpenApiExample(
            "metrics",
            summary="Two of the metrics",
            response_only=True,
            status_codes=["200"],
            media_type=MEDIA_TYPE,
            value=SAMPLE,
        ),
        error_example(503, "Database busy or unreachable", ServiceUnavailable()),
        *access_examples(Scope.METRICS),
    ],
    extensions={"x-required-scope": Scope.METRICS.value},
)
