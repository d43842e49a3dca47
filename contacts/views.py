"""HTTP endpoints: thin shells over ``contacts.services`` and ``contacts.health``."""

from rest_framework import status
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from contacts.health import check_readiness
from contacts.models import Scope
from contacts.parsers import BoundedJSONParser
from contacts.request_log import annotate_request
from contacts.schema import identify_schema, liveness_schema, readiness_schema
from contacts.serializers import (
    IdentifyRequestSerializer,
    IdentityResponseSerializer,
    LivenessSerializer,
    NotReadySerializer,
    ReadinessSerializer,
    represent,
)
from contacts.services.identify import contact_identify
from contacts.throttling import PerClientRateThrottle


class IdentifyView(APIView):
    """``POST /identify/``: link the email and/or phone number and answer with the identity.

    JSON in and out; the hot path of every checkout (bench/RESULTS.md).
    """

    parser_classes = [BoundedJSONParser]
    renderer_classes = [JSONRenderer]
    required_scope = Scope.IDENTIFY
    throttle_classes = [PerClientRateThrottle]
    throttle_scope = "identify"

    @identify_schema
    def post(self, request: Request) -> Response:
        serializer = IdentifyRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        identity = contact_identify(**serializer.validated_data)
        annotate_request(outcome=identity.outcome)
        return Response(represent(IdentityResponseSerializer, identity))


class LivenessView(APIView):
    """``GET /health/``: the process is up. Served for any host (``HealthCheckMiddleware``)."""

    authentication_classes = []
    permission_classes = []

    @liveness_schema
    def get(self, request: Request) -> Response:
        return Response(represent(LivenessSerializer, {"status": "ok"}))


class ReadinessView(APIView):
    """``GET /health/ready/``: ``200`` when the database is reachable and migrated, else ``503``."""

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
