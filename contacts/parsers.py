"""Request parsing for the API: JSON, with a cap on the body size and on nesting."""

import io

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"

    def __init__(self, *, limit: int) -> None:
        super().__init__(f"The request body is larger than {limit} bytes.")


class BoundedJSONParser(JSONParser):
    """``JSONParser`` that reads at most ``settings.API_MAX_BODY_BYTES`` of the body.

    DRF reads the request stream itself, so Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` never applies
    to API requests. Reading one byte past the limit tells a body over it from one at it, whatever
    ``Content-Length`` claimed. Python's decoder recurses once per nesting level, so a body of a few
    thousand ``[`` would exhaust the stack: that is a parse error too, not a crash.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_MAX_BODY_BYTES
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise PayloadTooLarge(limit=limit)
        try:
            return super().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError as error:
            raise exceptions.ParseError(
                "JSON parse error - the body is nested too deeply."
            ) from error
