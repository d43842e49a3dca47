"""The OpenAPI description of the API, for drf-spectacular: SPEC §4's examples, and every error.

Views apply the ``extend_schema`` decorators defined here; nothing in this package runs per
request. One module per use case: ``identify``, ``identities`` (the lookup, one identity),
``health``, ``privacy``, ``events`` (the pull feed), ``metrics`` (Prometheus' scrape);
``common`` holds the identifier types, the API key scheme (both registered with drf-spectacular
on import) and the shared error examples.
"""

from contacts.schema.events import events_feed_schema
from contacts.schema.health import liveness_schema, readiness_schema
from contacts.schema.identify import identify_schema
from contacts.schema.identities import identity_detail_schema, lookup_schema
from contacts.schema.metrics import metrics_schema
from contacts.schema.privacy import (
    erasure_create_schema,
    erasure_detail_schema,
    person_export_schema,
)

__all__ = [
    "erasure_create_schema",
    "erasure_detail_schema",
    "events_feed_schema",
    "identify_schema",
    "identity_detail_schema",
    "liveness_schema",
    "lookup_schema",
    "metrics_schema",
    "person_export_schema",
    "readiness_schema",
]
