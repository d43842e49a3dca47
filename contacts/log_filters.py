"""Keep emails and phone numbers out of every log line (issue 16, docs/privacy.md "No personal
data in logs").

The service never logs a request's body, but personal data reaches the logs by other roads: a
path or query string a client typed an identifier into (``/identify/?email=…``, an unknown URL),
the request repr Django attaches to its error records, gunicorn's messages about malformed
requests (which quote the request line), and the text of exceptions raised while a request is
served, PostgreSQL's above all: an ``IntegrityError`` carries ``DETAIL: Failing row contains (…,
doc@example.com, …)`` or ``DETAIL: Key (email)=(…)``. No code path can promise never to log such
text, so the handlers that write logs (the service's console handler, gunicorn's error and access
handlers, see ``gunicorn.conf.py``) pass every record through ``PersonalDataFilter``, which
rewrites it before any formatter sees it:

- PostgreSQL ``DETAIL:`` lines are dropped: they quote whole rows and key values;
- anything shaped like an email becomes ``[email]`` (also when its ``@`` is percent-encoded);
- anything shaped like a phone number (7 digits or more, with spaces, dashes, dots, parentheses
  and a leading ``+`` allowed between them) becomes ``[phone]``, except the numbers that only
  look like one: dates and times, IPv4 addresses, decimals (durations), all-digit UUIDs, PIDs
  named as such, quantities followed by their unit (``10485760 bytes``). Digits inside a word
  (hex request ids, UUIDs, hashes) are never a phone number.

The message is rendered once (``record.msg`` becomes the masked text, ``record.args`` is
emptied), the exception is formatted once into ``record.exc_text`` and ``record.exc_info`` is
cleared so that no formatter renders the raw traceback again, and ``stack_info`` and the fields
added with ``extra=`` (the request line's path, Django's ``request``) are masked too.

Limits, by design: a phone number of fewer than 7 digits (the API accepts 3 to 20) is not
recognisable among status codes, ports and ids and is not masked; a request id or an epoch
timestamp made of 7 digits or more is masked as a phone number; an email's local part is masked
from its last ``'``, ``/``, ``=``, ``&`` or ``?`` on (what comes before stays).
"""

import logging
import re
from typing import Any

EMAIL_MASK = "[email]"
PHONE_MASK = "[phone]"
PHONE_MIN_DIGITS = 7
# Linux's largest PID (PID_MAX_LIMIT on 64-bit systems): a larger number is never a PID.
PID_MAX = 4_194_304

# Whether a text may hold a phone number: a run of 7 or more of the characters one is written with
# (digits and separators), from a digit to a digit; an ASCII text is searched with ASCII digits,
# several times faster than Unicode's. With the substring tests of ``_may_hold``, the usual log
# line (a request line, a worker's start) costs one short search and is left as it is.
_PHONE_LIKE = re.compile(r"\d[\d ().+-]{" + str(PHONE_MIN_DIGITS - 2) + r",}\d")
_PHONE_LIKE_ASCII = re.compile(r"[0-9][0-9 ().+-]{" + str(PHONE_MIN_DIGITS - 2) + r",}[0-9]")
# A PostgreSQL error's DETAIL, to the end of its line (with the line break when it is a line).
_DETAIL = re.compile(r"^[ \t]*DETAIL:[^\n]*(?:\n|$)|DETAIL:[^\n]*", re.MULTILINE)
# The percent-encoded characters an email or a phone number is written with in a URL.
_PERCENT_ENCODED = re.compile(r"%(?:40|2[0BbDdEe89])")
# An email: RFC 5322's dot-atom characters (but the quote, "/", "=", "&" and "?" that delimit it
# in URLs and reprs; a backslash for the escapes of repr and Django's log arguments) around an "@",
# then a domain of words (any script), possibly still percent-encoded; a doubled "@" or "." (a
# mistyped address) does not end it.
_EMAIL = re.compile(r"[\w.!#$%*+^`{|}~\\-]+@+[\w%-]+(?:\.+[\w%-]+)*")
# A phone number: digits (of any script) with up to three separators between them, from the start
# of a token (not within a word or a number, not after a UUID's "-" or a time's "12:"), perhaps
# after "+" or an area code's "(", to a digit that ends a token.
_PHONE = re.compile(r"(?<![\w.+-])(?<!\d:)(?:\+|\((?=\d{1,5}\)))?\d(?:[ ().+-]{0,3}\d)*(?!\w)")
_DIGIT = re.compile(r"\d")
# Numbers shaped like a phone number that are something else.
_NOT_A_PHONE = re.compile(
    r"""
    \d{4}-\d{2}-\d{2}(?:[ T]\d{1,2})?     # an ISO date (a time's hour may follow)
    | \d{1,2}[./-]\d{1,2}[./-]\d{4}       # a day-first or month-first date
    | \d{4}/\d{1,2}/\d{1,2}
    | \d{1,3}(?:\.\d{1,3}){3}             # an IPv4 address
    | \d+\.\d+                            # a decimal: a duration, a size
    | \d{8}-\d{4}-\d{4}-\d{4}-\d{12}      # a UUID without a letter
    """,
    flags=re.VERBOSE,
)
# What names the number after it as a process id in gunicorn's and the service's messages
# ("Booting worker with pid: 4012345", "WORKER TIMEOUT (pid:4012345)").
_PID_NAMED = re.compile(r"\bpid[ :=]*\(?$", flags=re.IGNORECASE)
# A unit after a number makes it a quantity ("larger than 10485760 bytes", "1250000 ms").
_UNIT_AFTER = re.compile(r" ?(?:bytes?|[KMG]i?B|ms|s|seconds|rows)\b")

# The attributes of every LogRecord: anything else on a record came with ``extra=`` or a filter.
_RECORD_ATTRIBUTES = frozenset(
    [*logging.LogRecord("", 0, "", 0, "", (), None).__dict__, "message", "asctime", "taskName"]
)
_PLAIN_VALUES = (int, float, bool, type(None))
# Formats an exception as logging.Formatter does, to mask it before any handler's formatter.
_EXCEPTION_FORMATTER = logging.Formatter()


def _decode_percent(match: re.Match[str]) -> str:
    return chr(int(match.group()[1:], 16))


def _mask_phone(match: re.Match[str], *, keep: frozenset[str]) -> str:
    number = match.group()
    digits = len(_DIGIT.findall(number))
    if digits < PHONE_MIN_DIGITS or _NOT_A_PHONE.fullmatch(number) or number in keep:
        return number
    if number.isdigit():
        if _UNIT_AFTER.match(match.string, match.end()):
            return number
        before = match.string[max(0, match.start() - 6) : match.start()]
        if int(number) <= PID_MAX and _PID_NAMED.search(before):
            return number
    return PHONE_MASK


def _may_hold(text: str) -> bool:
    """Whether ``text`` may hold an email, a phone number (perhaps percent-encoded: ``%40``,
    ``%2B``, ``%20``…) or a DETAIL line: a cheap test that lets the usual text through."""
    if "@" in text or "%40" in text or "%2" in text or "DETAIL:" in text:
        return True
    phone_like = _PHONE_LIKE_ASCII if text.isascii() else _PHONE_LIKE
    return phone_like.search(text) is not None


def mask_personal_data(text: str, *, keep: frozenset[str] = frozenset()) -> str:
    """``text`` without PostgreSQL's DETAIL lines, with emails and phone numbers masked.

    ``keep`` are numbers known not to be personal data (the logging process's id).
    """
    if not _may_hold(text):
        return text
    if "DETAIL:" in text:
        text = _DETAIL.sub("", text)
    if "%" in text:
        text = _PERCENT_ENCODED.sub(_decode_percent, text)
    if "@" in text:
        text = _EMAIL.sub(EMAIL_MASK, text)
    return _PHONE.sub(lambda match: _mask_phone(match, keep=keep), text)


def _masked_value(value: Any, *, keep: frozenset[str]) -> Any:
    """A field of a record, masked; numbers stay numbers, other objects become their masked text
    (what the JSON formatter would write for them: ``str(value)``)."""
    if isinstance(value, str):
        return mask_personal_data(value, keep=keep)
    if isinstance(value, _PLAIN_VALUES):
        return value
    if isinstance(value, dict):
        return {key: _masked_value(item, keep=keep) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_masked_value(item, keep=keep) for item in value]
    try:
        text = str(value)
    except Exception:
        text = f"<{type(value).__name__}>"
    return mask_personal_data(text, keep=keep)


def _rendered_message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:
        # The handler would report the failed formatting with the raw arguments: keep them, masked
        # below, instead.
        return f"{record.msg!s} (arguments: {record.args!r})"


class PersonalDataFilter(logging.Filter):
    """Rewrite every record so that no email, phone number or PostgreSQL DETAIL line reaches a
    log; never drops a record. Attach it to handlers (a logger's filters do not see the records
    of its children)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _plain_text_only(record):
            return True
        keep = frozenset([str(record.process)]) if record.process else frozenset()
        if isinstance(record.msg, dict):
            record.msg = _masked_value(record.msg, keep=keep)
        else:
            record.msg = mask_personal_data(_rendered_message(record), keep=keep)
            record.args = None
        if "message" in record.__dict__:
            record.message = _masked_value(record.message, keep=keep)
        if record.exc_info:
            record.exc_text = mask_personal_data(
                _EXCEPTION_FORMATTER.formatException(record.exc_info), keep=keep
            )
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = mask_personal_data(record.exc_text, keep=keep)
        if record.stack_info:
            record.stack_info = mask_personal_data(record.stack_info, keep=keep)
        fields = record.__dict__
        for name in _extra_fields(record):
            fields[name] = _masked_value(fields[name], keep=keep)
        return True


def _extra_fields(record: logging.LogRecord) -> list[str]:
    """The fields added to a record with ``extra=`` or by a filter."""
    return [name for name in record.__dict__ if name not in _RECORD_ATTRIBUTES and name[0] != "_"]


def _plain_text_only(record: logging.LogRecord) -> bool:
    """Whether the record is text and numbers only, none of it shaped like personal data: the
    usual record (a request's line), rendered once and then left as it is. One search over all
    of its texts together, not one per field: the search's own cost is most of a short one's."""
    if record.exc_info or record.exc_text or record.stack_info or isinstance(record.msg, dict):
        return False
    fields = record.__dict__
    texts = [_rendered_message(record)]
    for name in _extra_fields(record):
        value = fields[name]
        if isinstance(value, str):
            texts.append(value)
        elif not isinstance(value, _PLAIN_VALUES):
            return False
    if _may_hold("\n".join(texts)):
        return False
    record.msg, record.args = texts[0], None
    return True


# How much of a refused Host header a log line quotes: the client chose it, and may have sent
# kilobytes of it.
HOST_QUOTED_CHARACTERS = 100


class DisallowedHostFilter(logging.Filter):
    """One WARNING line, without a traceback, for a request whose Host is not in ALLOWED_HOSTS.

    Django logs each one at ERROR with the traceback of its ``DisallowedHost`` exception
    (``django.core.handlers.exception``), although the client only gets its ``400``: scanners and
    probes that call the service by its address would fill the logs with tracebacks. The line
    quotes the host (escaped, at most ``HOST_QUOTED_CHARACTERS``) instead of Django's message,
    which quotes it twice, and leaves out the request (its line from ``contacts.requests`` follows,
    with the same request id). Attached to the ``django.security.DisallowedHost`` logger.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "host_quoted", False):
            # Already rewritten: a logger and a handler may both carry the filter.
            return True
        record.host_quoted = True
        request = record.__dict__.pop("request", None)
        if request is None:
            record.msg, record.args = _quoted(record.getMessage()), None
        else:
            host = request.META.get("HTTP_HOST") or request.META.get("SERVER_NAME", "")
            record.msg = "Host %s is not in ALLOWED_HOSTS: answered 400"
            record.args = (_quoted(host),)
        record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        record.exc_info = record.exc_text = None
        return True


def _quoted(text: str) -> str:
    """``text`` as a Python literal, escaped, cut at ``HOST_QUOTED_CHARACTERS``."""
    quoted = repr(text[:HOST_QUOTED_CHARACTERS])
    if len(text) > HOST_QUOTED_CHARACTERS:
        quoted += f" (cut, {len(text)} characters)"
    return quoted
