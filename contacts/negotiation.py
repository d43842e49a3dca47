"""Content negotiation for a JSON-only API."""

from rest_framework.negotiation import DefaultContentNegotiation


class JSONContentNegotiation(DefaultContentNegotiation):
    """Read a body without ``Content-Type`` as JSON, and always answer JSON.

    Other declared content types still get ``415``; an ``Accept`` header never turns an answer
    into ``406``, since JSON is the only representation there is.
    """

    def select_parser(self, request, parsers):
        if not request.content_type:
            return parsers[0]
        return super().select_parser(request, parsers)

    def select_renderer(self, request, renderers, format_suffix=None):
        renderer = renderers[0]
        return renderer, renderer.media_type
