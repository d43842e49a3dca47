"""What operators and platforms call: the health checks and ``GET /metrics``."""

from django.http import HttpResponse
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from contacts.health import check_readiness
from contacts.metrics import CONTENT_TYPE, metrics_exposition
from contacts.models import Scope
from contacts.schema import liveness_schema, metrics_schema, readiness_schema
from contacts.serializers import (
    LivenessSerializer,
    NotReadySerializer,
    ReadinessSerializer,
    represent,
)


class LivenessView(APIView):
    """``GET /health/``: the process is up. Served for any host (``HealthCheckMiddleware``)."""

    authentication_classes = []
    permission_classes = []

    @liveness_schema
    def get(self, request: Request) -> Response:
        return Response(represent(LivenessSerializer, {"status": "ok"}))


class ReadinessView(APIView):
    """``GET /health/ready/``: ``200`` when the database is reachable, migrated, and the session
    has the timeouts every request relies on; else ``503``."""

    authentication_classes = []
    permission_classes = []

    @readiness_schema
    def get(self, request: Request) -> Response:
        readiness = check_readiness()
        if readiness.ready:
            return Response(represent(ReadinessSerializer, readiness))
        return Response(
            represent(NotReadySerializer, readiness), status=status.HTTP_503_SERVICE_UNAVAILABLE
        )


class MetricsView(APIView):
    """``GET /metrics``: the service's metrics in Prometheus' text format (docs/operations.md,
    "Metrics"). Refusals are the API's JSON, as everywhere; the metrics are a plain response,
    which DRF passes on without rendering."""

    required_scope = Scope.METRICS

    @metrics_schema
    def get(self, request: Request) -> HttpResponse:
        return HttpResponse(metrics_exposition(), content_type=CONTENT_TYPE)
