"""When the bytes a client has sent hold one whole HTTP/1.1 request (RFC 9112 section 6), for the
threaded worker (``bitespeed.gunicorn_worker``), which hands a request to a thread only once it is
whole. Framing only, without a socket or Django: gunicorn's parser validates the request after.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum


class Framing(Enum):
    INCOMPLETE = "incomplete"
    READY = "ready"
    """A whole request, or framing that gunicorn's parser refuses (it answers 400 itself)."""
    HEAD_TOO_LARGE = "head too large"
    BODY_TOO_LARGE = "body too large"


_HEAD_END = b"\r\n\r\n"
_CRLF = b"\r\n"
_BARE_LF = re.compile(rb"(?<!\r)\n")
_HEX = re.compile(rb"[0-9A-Fa-f]+")


@dataclass
class _KnownEnd:
    """A request that is whole once the buffer holds ``end`` bytes (0: hand it over as it is)."""

    end: int

    def frame(self, buffer: bytearray) -> Framing:
        return Framing.READY if len(buffer) >= self.end else Framing.INCOMPLETE


class _TooLarge:
    """A request whose declared body is over the cap: refused before its body is read."""

    def frame(self, buffer: bytearray) -> Framing:
        return Framing.BODY_TOO_LARGE


def _chunk_size(line: bytes) -> int | None:
    """A chunk-size line's size, read as gunicorn reads it; ``None`` when gunicorn refuses it."""
    size, extension, _ = line.partition(b";")
    if extension:
        size = size.rstrip(b" \t")
    return int(size, 16) if _HEX.fullmatch(size) else None


@dataclass(kw_only=True)
class _ChunkedBody:
    """Finds the end of a chunked body (RFC 9112 section 7.1) as its bytes arrive.

    ``position`` is where the next chunk-size line (or the trailer section) starts; a chunk counts
    once its data and their CRLF have arrived. The decoded size is capped by ``max_body``, and the
    bytes as sent from ``start`` (sizes, extensions and trailers included) by ``max_raw``.
    """

    start: int
    position: int
    max_body: int
    max_raw: int
    max_line: int
    decoded: int = 0
    in_trailers: bool = False
    searched: int = 0
    """Where the search for the current line's (or the trailer section's) end resumes."""

    def frame(self, buffer: bytearray) -> Framing:
        while not self.in_trailers:
            line_end = buffer.find(_CRLF, max(self.position, self.searched - 1))
            if line_end < 0:
                self.searched = len(buffer)
                if len(buffer) - self.position > self.max_line:
                    return Framing.READY
                return self._incomplete(buffer)
            size = _chunk_size(bytes(buffer[self.position : line_end]))
            if size is None:
                return Framing.READY
            if self.decoded + size > self.max_body:
                return Framing.BODY_TOO_LARGE
            data_end = line_end + 2 + size
            if size and len(buffer) < data_end + 2:
                return self._incomplete(buffer)
            if size and buffer[data_end : data_end + 2] != _CRLF:
                return Framing.READY
            self.decoded += size
            self.in_trailers = size == 0
            self.position = data_end + 2 if size else line_end + 2
            self.searched = self.position
        return self._frame_trailers(buffer)

    def _frame_trailers(self, buffer: bytearray) -> Framing:
        """The trailer section: an empty line, or field lines ended by an empty line."""
        if buffer[self.position : self.position + 2] == _CRLF:
            return Framing.READY
        if buffer.find(_HEAD_END, max(self.position, self.searched - 3)) >= 0:
            return Framing.READY
        self.searched = len(buffer)
        return self._incomplete(buffer)

    def _incomplete(self, buffer: bytearray) -> Framing:
        if len(buffer) - self.start > self.max_raw:
            return Framing.BODY_TOO_LARGE
        return Framing.INCOMPLETE


@dataclass
class _Fields:
    """What a header section says about the body that follows it."""

    target: str = ""
    """The request target (a path, usually), as the client sent it."""
    lengths: list[bytes] = field(default_factory=list)
    codings: list[bytes] = field(default_factory=list)
    expects_continue: bool = False


def _target(request_line: bytes) -> str:
    """``/identify/`` of ``POST /identify/ HTTP/1.1``; ``""`` when the line has no target."""
    parts = request_line.split(b" ")
    return parts[1].decode("latin-1") if len(parts) == 3 else ""


def _fields(head: bytes) -> _Fields:
    """The framing fields of a header section (up to its empty line), read leniently: gunicorn's
    parser validates the section afterwards, and refuses anything malformed."""
    lines = head.split(_CRLF)
    # RFC 9112 section 2.2: one empty line may come before the request line.
    if lines[0] == b"" and len(lines) > 1:
        lines = lines[1:]
    fields = _Fields(target=_target(lines[0]))
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name, value = name.rstrip(b" \t").lower(), value.strip(b" \t")
        if name == b"content-length":
            fields.lengths.append(value)
        elif name == b"transfer-encoding":
            fields.codings += [coding.strip(b" \t").lower() for coding in value.split(b",")]
        elif name == b"expect":
            fields.expects_continue = value.lower() == b"100-continue"
    # RFC 9110 section 10.1.1: an HTTP/1.0 client's expectation is ignored.
    fields.expects_continue = fields.expects_continue and lines[0].endswith(b"HTTP/1.1")
    return fields


class RequestFramer:
    """Tells, from the bytes a connection has sent so far, whether they hold one whole request.

    Framing only: the header section ends at its first empty line; the body is what
    ``Transfer-Encoding: chunked`` or ``Content-Length`` says (RFC 9112 section 6.3), or nothing.
    Whatever gunicorn's parser would refuse without reading further (both headers, two lengths, a
    length that is not digits, a transfer coding other than chunked last, a bare LF, a bad chunk)
    is ``READY`` as soon as it is seen, so that the parser answers it. The caps are answered here:
    a header section over ``max_head``, a declared length over the body's cap (before reading the
    body), a chunked body growing over its cap decoded or its cap + ``max_head`` as sent. The cap
    is ``body_cap`` of the request target: the application's limit depends on the path.
    """

    def __init__(
        self, *, max_head: int, body_cap: Callable[[str], int], max_chunk_line: int
    ) -> None:
        self.buffer = bytearray()
        self.expects_continue = False
        self.max_body = 0
        """The cap of this request's body, once its request line has arrived."""
        self._max_head = max_head
        self._body_cap = body_cap
        self._max_chunk_line = max_chunk_line
        self._searched = 0
        self._body: _KnownEnd | _TooLarge | _ChunkedBody | None = None

    def feed(self, data: bytes) -> Framing:
        self.buffer += data
        if self._body is None:
            framing = self._frame_head()
            if self._body is None:
                return framing
        return self._body.frame(self.buffer)

    def _frame_head(self) -> Framing:
        end = self.buffer.find(_HEAD_END, max(0, self._searched - 3))
        if end < 0:
            if _BARE_LF.search(self.buffer, self._searched):
                self._body = _KnownEnd(0)
            self._searched = len(self.buffer)
            return (
                Framing.HEAD_TOO_LARGE if len(self.buffer) > self._max_head else Framing.INCOMPLETE
            )
        if end + len(_HEAD_END) > self._max_head:
            return Framing.HEAD_TOO_LARGE
        fields = _fields(bytes(self.buffer[:end]))
        self.expects_continue = fields.expects_continue
        self.max_body = self._body_cap(fields.target)
        self._body = self._body_framing(fields, body_start=end + len(_HEAD_END))
        return Framing.INCOMPLETE

    def _body_framing(
        self, fields: _Fields, *, body_start: int
    ) -> _KnownEnd | _TooLarge | _ChunkedBody:
        if fields.codings:
            if fields.codings[-1] != b"chunked" or fields.lengths:
                return _KnownEnd(0)
            return _ChunkedBody(
                start=body_start,
                position=body_start,
                max_body=self.max_body,
                max_raw=self.max_body + self._max_head,
                max_line=self._max_chunk_line,
            )
        if not fields.lengths:
            return _KnownEnd(body_start)
        if len(fields.lengths) > 1 or not fields.lengths[0].isdigit():
            return _KnownEnd(0)
        digits = fields.lengths[0].lstrip(b"0") or b"0"
        # Compared as text first: a length of a thousand digits is not worth converting.
        if len(digits) > len(str(self.max_body)) or int(digits) > self.max_body:
            return _TooLarge()
        return _KnownEnd(body_start + int(digits))
