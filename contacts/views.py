"""HTTP endpoints: thin shells over ``contacts.services``."""

from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from contacts.serializers import IdentifyRequestSerializer, identity_payload
from contacts.services import contact_identify


class IdentifyView(APIView):
    """``POST /identify/``: link the email and/or phone number and answer with the identity.

    JSON in and out, no authentication, whatever the project's defaults become: this is the hot
    path of every checkout (bench/RESULTS.md).
    """

    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]
    authentication_classes = []
    permission_classes = []

    def post(self, request: Request) -> Response:
        serializer = IdentifyRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        identity = contact_identify(**serializer.validated_data)
        return Response(identity_payload(identity))
