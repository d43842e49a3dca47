"""The errors the service answers with, each naming its HTTP status and code, in the style of DRF's
``exceptions.py``.

Services raise them and ``contacts.errors`` turns every one into a response in one place. They
import nothing from Django or DRF, so that services, the admin and the commands raise and catch
them without depending on the HTTP layer.
"""


class ServiceError(Exception):
    """An error with the status, message and machine-readable code the API answers it with."""

    status_code = 500
    default_detail = "Internal server error."
    default_code = "server_error"

    errors: dict[str, list[str]] | None = None
    """Messages by request field, for an error about some of the request's fields."""

    def __init__(self, detail: str | None = None, *, code: str | None = None) -> None:
        self.detail = detail if detail is not None else self.default_detail
        self.code = code if code is not None else self.default_code
        super().__init__(self.detail)

    @property
    def headers(self) -> dict[str, str]:
        return {}


class ServiceUnavailable(ServiceError):
    """The database is busy (a lock or statement timeout, retries used up) or unreachable.

    Nothing was written; the client may send the same request again after ``Retry-After``.
    ``reason`` says which, for the request's log line; it is not sent to the client.
    """

    status_code = 503
    default_detail = "The database is busy or unreachable; retry shortly."
    default_code = "unavailable"
    retry_after_seconds = 1

    def __init__(self, detail: str | None = None, *, reason: str = "unavailable") -> None:
        super().__init__(detail)
        self.reason = reason

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


class RequestTimeout(ServiceError):
    """A read of the request body timed out in the application: with ``sync`` workers, whose reads
    are bounded by ``GUNICORN_TIMEOUT``. The threaded worker reads each request whole before a
    thread sees it and answers its own ``408`` (bitespeed/gunicorn_worker.py)."""

    status_code = 408
    default_detail = "The request body did not arrive in time."
    default_code = "request_timeout"


class CorrectionError(ServiceError):
    """A correction that would break an invariant, such as a contact with no identifier left."""

    status_code = 400
    default_detail = "The correction would leave a contact that breaks the rules."
    default_code = "invalid_correction"


class IdentityNotFound(ServiceError):
    """No live contact carries the identifiers (the lookup), or no such contact (the identity)."""

    status_code = 404
    default_detail = "No identity holds these identifiers."
    default_code = "identity_not_found"


class IdentitiesConflict(ServiceError):
    """The identifiers of a lookup belong to two identities: ``/identify/`` would merge them."""

    status_code = 409
    default_code = "identities_conflict"

    def __init__(self, *, email_primary_id: int, phone_primary_id: int) -> None:
        super().__init__(
            f"The email belongs to identity #{email_primary_id} and the phone number to "
            f"identity #{phone_primary_id}; POST /identify/ would merge them."
        )
        self.primary_ids = (email_primary_id, phone_primary_id)


class IdentifiersBlocked(ServiceError):
    """Every identifier of the request is blocked (docs/governance.md): nothing can match it and
    nothing was written. The message names the fields, never their values."""

    status_code = 422
    default_code = "blocked_identifier"

    def __init__(self, *, fields: list[str]) -> None:
        super().__init__(
            f"{' and '.join(fields)}: blocked as a placeholder or shared value; "
            "send an identifier of the customer's own."
        )
        self.errors = {field: ["This value is blocked."] for field in fields}


class IdentifiersSuppressed(ServiceError):
    """A value of the request was erased at its owner's request and may not come back
    (docs/privacy.md): nothing was written. The message names the fields, never their values."""

    status_code = 422
    default_code = "suppressed"

    def __init__(self, *, fields: list[str]) -> None:
        super().__init__(
            f"{' and '.join(fields)}: erased at the person's request and suppressed; "
            "it cannot be stored again."
        )
        self.errors = {field: ["This value is suppressed."] for field in fields}


class IdempotencyKeyReused(ServiceError):
    """A request id already names an erasure of another person, or one asked otherwise: answering
    that erasure would report as done what was never asked (draft-ietf-httpapi-idempotency-key)."""

    status_code = 422
    default_detail = "This request id was already used for a different erasure."
    default_code = "request_id_reused"

    def __init__(self) -> None:
        super().__init__()
        self.errors = {"requestId": ["Already used by another erasure."]}


class InvalidCursor(ServiceError):
    """A cursor the feed never gave out: altered, truncated, or from another API."""

    status_code = 400
    default_detail = "after: not a cursor of this feed; pass `next` from an earlier answer."
    default_code = "invalid_cursor"

    def __init__(self) -> None:
        super().__init__()
        self.errors = {"after": ["Not a cursor of this feed; pass `next` from an earlier answer."]}
