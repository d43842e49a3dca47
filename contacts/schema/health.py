"""The description of the health checks."""

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema

from contacts.health import READY, UNREACHABLE
from contacts.serializers import (
    LivenessSerializer,
    NotReadySerializer,
    ReadinessSerializer,
    represent,
)

liveness_schema = extend_schema(
    summary="Liveness: the process serves requests",
    description="Does not consult the database. Answered for any `Host` header.",
    responses={200: LivenessSerializer},
    examples=[
        OpenApiExample(
            "live", response_only=True, value=represent(LivenessSerializer, {"status": "ok"})
        )
    ],
)

readiness_schema = extend_schema(
    summary="Readiness: the database is reachable and migrated",
    description="Answered for any `Host` header.",
    responses={
        200: ReadinessSerializer,
        503: OpenApiResponse(NotReadySerializer, description="Not ready: `detail` says why."),
    },
    examples=[
        OpenApiExample(
            "ready",
            response_only=True,
            status_codes=["200"],
            value=represent(ReadinessSerializer, READY),
        ),
        OpenApiExample(
            "unreachable",
            response_only=True,
            status_codes=["503"],
            value=represent(NotReadySerializer, UNREACHABLE),
        ),
    ],
)
