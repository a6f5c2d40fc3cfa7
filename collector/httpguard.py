"""Bounds on a request's head (request line and headers), which uvicorn's httptools protocol lacks.

httptools buffers a head of any size (a 50 MB header took the collector's RSS from 68 to 151 MB
and was then answered 202) and waits for it forever (a client that sends a header line every few
seconds keeps its connection, and a file descriptor, for good; so does one that connects and says
nothing). The body has its own bounds (collector/body.py); these apply before the app is called:

- a head still incomplete after MAX_HEAD_BYTES: `431 headers_too_large`, connection closed;
- a head not complete within the head timeout of the connection's opening or of its first byte:
  `408 header_timeout`, connection closed. Between keep-alive requests uvicorn's own keep-alive
  timeout applies.

Both are counted in `microcv_events_rejected_total` like every other refusal, and so is a request
httptools cannot parse (`400 bad_http`, uvicorn's own answer otherwise had neither reason nor
metric).
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# Browsers send a few KiB (cookies of the collector's own domain included); uvicorn's h11 backend
# stops at 16 KiB, nginx at 8 KiB per line.
MAX_HEAD_BYTES: Final = 64 * 1024


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a size and a time bound on each request's head."""

    head_timeout_s: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0  # bytes received since the head began, while it is incomplete
        self._parsed_head = 0  # bytes of request line and headers parsed
        self._too_large = False
        self._in_head = False
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # A connection that never sends a byte would otherwise be kept for good.
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # A head still incomplete once a chunk is parsed holds all of the chunk (bar the end of
        # a pipelined request before it); httptools keeps it in memory. The bound is checked per
        # chunk, so memory stays under it plus one read. A head that completes within one read
        # is measured as it is parsed (on_url, on_header).
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse(431, "headers_too_large", f"at most {MAX_HEAD_BYTES} bytes of headers")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._parsed_head = 0
        if self._head_timer is None:
            self._arm()

    def on_url(self, url: bytes) -> None:
        self._parsed(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._parsed(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def _parsed(self, size: int) -> None:
        self._parsed_head += size
        if self._parsed_head > MAX_HEAD_BYTES:
            # Raised inside httptools' callback, this stops the parse at once; uvicorn then
            # calls send_400_response, which answers 431 for it.
            self._too_large = True
            raise ValueError("head too large")

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm()
        super().on_headers_complete()

    def _arm(self) -> None:
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._in_head:
            self._refuse(408, "header_timeout", f"headers whole within {self.head_timeout_s:g} s")
        elif self.cycle is None:
            self.transport.close()  # connected, never sent a byte: nothing to answer

    def send_400_response(self, msg: str) -> None:
        # What httptools cannot parse (a bad chunk, Content-Length and Transfer-Encoding both,
        # a malformed request line): uvicorn's plain-text 400, here with a reason and a metric.
        if self._too_large:
            self._refuse(431, "headers_too_large", f"at most {MAX_HEAD_BYTES} bytes of headers")
        else:
            self._refuse(400, "bad_http", msg)

    def _refuse(self, status: int, reason: str, detail: str) -> None:
        self._disarm()
        self._in_head = False
        if self.transport.is_closing():
            return
        runtime = self.app_state.get("runtime")
        if runtime is not None:
            runtime.metrics.reject(reason)
        body = orjson.dumps({"error": reason, "detail": detail, "code": reason, "message": detail})
        phrase = {
            400: b"Bad Request",
            408: b"Request Timeout",
            431: b"Request Header Fields Too Large",
        }[status]
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (status, phrase, len(body), body)
        )
        self.transport.close()


def guarded_protocol(head_timeout_s: float) -> type[GuardedHttpToolsProtocol]:
    """The protocol class to hand uvicorn (`http=`), with the head timeout bound."""
    return type("GuardedHttpTools", (GuardedHttpToolsProtocol,), {"head_timeout_s": head_timeout_s})
