"""The identity API: ``POST /identify/``, ``POST /identities/lookup/`` and ``GET
/identities/{id}/``, thin shells over ``contacts.services.identify`` and the identity selectors."""

from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from contacts.db.routing import reads_from_replica
from contacts.models import Scope
from contacts.normalize import parse_row_id
from contacts.parsers import BoundedJSONParser
from contacts.request_log import annotate_request
from contacts.schema import identify_schema, identity_detail_schema, lookup_schema
from contacts.selectors.identities import cluster_history, identity_lookup, identity_of_contact
from contacts.serializers import (
    IdentifyRequestSerializer,
    IdentityDetailSerializer,
    IdentityResponseSerializer,
    represent,
    validated,
)
from contacts.services.identify import contact_identify
from contacts.throttling import PerClientRateThrottle


class IdentifiersView(APIView):
    """A view that takes an email and/or phone number in a bounded JSON body, under the
    ``/identify/`` rate limit (per API key)."""

    parser_classes = [BoundedJSONParser]
    renderer_classes = [JSONRenderer]
    throttle_classes = [PerClientRateThrottle]
    throttle_scope = "identify"

    def identifiers(self, request: Request) -> dict:
        """The request's email and phone number in canonical form; ``400`` if invalid."""
        return validated(IdentifyRequestSerializer, request.data)


class IdentifyView(IdentifiersView):
    """``POST /identify/``: link the email and/or phone number and answer with the identity.

    JSON in and out; the hot path of every checkout (bench/RESULTS.md).
    """

    required_scope = Scope.IDENTIFY

    @identify_schema
    def post(self, request: Request) -> Response:
        identity = contact_identify(**self.identifiers(request))
        annotate_request(outcome=identity.outcome)
        return Response(represent(IdentityResponseSerializer, identity))


class IdentityLookupView(IdentifiersView):
    """``POST /identities/lookup/``: the identity that already holds the identifiers; never writes.

    The body is ``/identify/``'s (identifiers never travel in URLs, where proxies log them).
    """

    required_scope = Scope.LOOKUP

    @lookup_schema
    def post(self, request: Request) -> Response:
        identity = identity_lookup(**self.identifiers(request))
        return Response(represent(IdentityResponseSerializer, identity))


class HistoryPagination(CursorPagination):
    """An identity's history, newest first, by cursor: pages stay stable while events arrive."""

    ordering = "-id"
    page_size = 50

    def decode_cursor(self, request: Request) -> Cursor | None:
        """DRF's cursor, refused as invalid when its position is no event id: DRF would pass any
        text on to the id filter, where it fails as a ``500``."""
        cursor = super().decode_cursor(request)
        position = cursor.position if cursor is not None else None
        if position is not None and parse_row_id(position) is None:
            raise NotFound(self.invalid_cursor_message)
        return cursor


class IdentityDetailView(APIView):
    """``GET /identities/{id}/``: the identity contact ``id`` belongs to now, each member with why
    it belongs, and the identity's history."""

    renderer_classes = [JSONRenderer]
    required_scope = Scope.LOOKUP

    @identity_detail_schema
    @reads_from_replica
    def get(self, request: Request, contact_id: int) -> Response:
        cluster = identity_of_contact(contact_id=contact_id)
        member_ids = [member.id for member in cluster.members]
        paginator = HistoryPagination()
        events = paginator.paginate_queryset(
            cluster_history(member_ids=member_ids), request, view=self
        )
        detail = {
            "identity": cluster.identity,
            "members": [
                {"contact": contact, "reason": reason}
                for contact, reason in cluster.explained_members
            ],
            "history": {
                "next": paginator.get_next_link(),
                "previous": paginator.get_previous_link(),
                "results": events,
            },
        }
        return Response(represent(IdentityDetailSerializer, detail))
