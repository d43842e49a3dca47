"""What a caller may do: each API view names the scope it needs (``required_scope``)."""

from typing import TYPE_CHECKING

from django.conf import settings
from rest_framework import exceptions
from rest_framework.permissions import BasePermission

from contacts.models import Scope

if TYPE_CHECKING:
    from rest_framework.request import Request
    from rest_framework.views import APIView


# The detail and code of each refusal, shared with the schema's examples (contacts.schema).
API_KEY_REQUIRED = {
    "detail": "Send an API key: `Authorization: Api-Key <key>`.",
    "code": "api_key_required",
}
INVALID_API_KEY = {
    "detail": "The API key is unknown, revoked or expired.",
    "code": "invalid_api_key",
}


def scope_missing(scope: Scope) -> dict[str, str]:
    return {"detail": f"This API key does not have the `{scope}` scope.", "code": "scope_missing"}


class HasScope(BasePermission):
    """The request's API key has the view's ``required_scope``; without a key, only while
    ``API_KEYS_REQUIRED`` is off."""

    def has_permission(self, request: "Request", view: "APIView") -> bool:
        scope = view.required_scope
        if request.auth is None:
            if settings.API_KEYS_REQUIRED:
                raise exceptions.NotAuthenticated(**API_KEY_REQUIRED)
            return True
        if not request.auth.allows(scope):
            raise exceptions.PermissionDenied(**scope_missing(scope))
        return True
