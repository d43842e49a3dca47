"""Django's sessions and messages, made when a request first uses them.

Django's middleware builds a session store and a message storage (a cookie reader and a signer)
for every request. Only the pages people use in a browser (the admin's) use either; the API's
requests, sent by shops' backends with an API key and without cookies, would build both for
nothing on every call. These subclasses put a lazy object in their place and, when a request never
touched it, leave the response as Django's middleware leaves it for an untouched session or
message storage: no cookie set or deleted, no ``Vary: Cookie``.
"""

from functools import partial

from django.conf import settings
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.messages.storage import default_storage
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty


def _untouched(value: object) -> bool:
    """Whether ``value`` is one of these lazy objects, never evaluated."""
    return isinstance(value, SimpleLazyObject) and value._wrapped is empty


class LazySessionMiddleware(SessionMiddleware):
    """A request without a session cookie gets its (new, empty) session on first use.

    A request with a session cookie gets its session as Django gives it: Django deletes the cookie
    of a session that turns out empty even when the request never read it.
    """

    def process_request(self, request: HttpRequest) -> None:
        if settings.SESSION_COOKIE_NAME in request.COOKIES:
            super().process_request(request)
        else:
            request.session = SimpleLazyObject(partial(self.SessionStore, None))

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if _untouched(getattr(request, "session", None)):
            return response
        return super().process_response(request, response)


class LazyMessageMiddleware(MessageMiddleware):
    """The message storage is made when a page first adds or reads a message.

    A storage nobody added to or read stores nothing and leaves its cookie as it was.
    """

    def process_request(self, request: HttpRequest) -> None:
        request._messages = SimpleLazyObject(partial(default_storage, request))

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if _untouched(getattr(request, "_messages", None)):
            return response
        return super().process_response(request, response)
