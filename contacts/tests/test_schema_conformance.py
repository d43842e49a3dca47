"""Schemathesis against the schema the service publishes: no 5xx, every response as documented."""

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


# Loaded from the running application at collection, as a client would fetch it.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


# Committed transactions, as in production: the service owns its transaction, and each call goes
# through the WSGI handler, which closes connections between requests.
@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_requests_get_documented_responses(case):
    case.call_and_validate(checks=CHECKS)
