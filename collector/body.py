"""Reading a request body: bounded while it streams in, gzip decoded in bounded chunks.

Whatever the content type a browser or a library picked (text/plain from sendBeacon,
application/json, none at all, or a form), the result is the JSON text of the payload.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import Final
from urllib.parse import parse_qs

from starlette.requests import ClientDisconnect, Request

# The form field that carries the JSON when a client sends it as a form.
FORM_FIELD: Final = "data"
JSON_TYPES: Final = frozenset({"", "text/plain", "application/json"})
FORM_TYPE: Final = "application/x-www-form-urlencoded"
# Decompressed output is produced at most this much at a time, so a bomb never inflates in full.
_INFLATE_STEP: Final = 16 * 1024


class BodyError(Exception):
    """A body that cannot be read: `status` is the HTTP answer, `reason` a metric label."""

    def __init__(self, status: int, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.detail = detail


class _Inflater:
    """gzip decoding with a ceiling on the output, fed one network chunk at a time."""

    def __init__(self, limit: int) -> None:
        self._z = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        self._limit = limit
        self.out = bytearray()

    def feed(self, chunk: bytes) -> None:
        if self._z.eof:
            if chunk:
                raise BodyError(400, "bad_gzip", "data after the end of the gzip stream")
            return
        data = chunk
        while data:
            try:
                piece = self._z.decompress(data, _INFLATE_STEP)
            except zlib.error as exc:
                raise BodyError(400, "bad_gzip", str(exc)[:100]) from None
            self.out += piece
            if len(self.out) > self._limit:
                raise BodyError(413, "body_too_large", f"at most {self._limit} bytes decoded")
            if self._z.eof:
                if self._z.unused_data:
                    raise BodyError(400, "bad_gzip", "data after the end of the gzip stream")
                return
            data = self._z.unconsumed_tail

    def finish(self) -> bytes:
        if not self._z.eof:
            raise BodyError(400, "truncated_gzip", "the gzip stream ends early")
        return bytes(self.out)


def _encoding(request: Request) -> str:
    value = request.headers.get("content-encoding", "").strip().lower()
    if value in ("", "identity"):
        return ""
    if value in ("gzip", "x-gzip"):
        return "gzip"
    raise BodyError(415, "unsupported_encoding", "identity or gzip")


def _media_type(request: Request) -> str:
    raw = request.headers.get("content-type", "")
    media, _, params = raw.partition(";")
    media = media.strip().lower()
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            raise BodyError(415, "unsupported_charset", "UTF-8 only")
    if media not in JSON_TYPES and media != FORM_TYPE:
        raise BodyError(415, "unsupported_media_type", "text/plain, application/json or a form")
    return media


async def _read(request: Request, limit: int, gzip: bool) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BodyError(400, "bad_content_length")
        if int(declared) > limit:
            raise BodyError(413, "body_too_large", f"at most {limit} bytes")
    inflater = _Inflater(limit) if gzip else None
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        # Counted as it arrives: a body larger than the limit is refused before it is all here.
        if len(raw) > limit:
            raise BodyError(413, "body_too_large", f"at most {limit} bytes")
        if inflater is not None:
            inflater.feed(chunk)
    if inflater is not None:
        return inflater.finish() if raw else b""
    return bytes(raw)


def _from_form(body: bytes) -> bytes:
    # `curl -d '{...}'` labels raw JSON as a form: take it as it is.
    if body.lstrip()[:1] in (b"{", b"["):
        return body
    try:
        fields = parse_qs(body.decode("ascii"), errors="strict", strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise BodyError(400, "bad_form", "not a URL-encoded form") from None
    values = fields.get(FORM_FIELD)
    if not values or len(values) != 1:
        raise BodyError(400, "bad_form", f"one field named {FORM_FIELD!r} carries the JSON")
    return values[0].encode()


async def read_json_body(request: Request, limit: int, within_s: float) -> bytes:
    """The JSON text of the request's payload, at most `limit` bytes on the wire and decoded.

    Raises BodyError: 400 empty or malformed, 408 when the body is not whole within `within_s`,
    413 too large (before it is all buffered), 415 an encoding or media type we do not read.
    """
    gzip = _encoding(request) == "gzip"
    media = _media_type(request)
    try:
        async with asyncio.timeout(within_s):
            body = await _read(request, limit, gzip)
    except TimeoutError:
        raise BodyError(408, "body_timeout", f"whole within {within_s:g} s") from None
    except ClientDisconnect:
        raise BodyError(400, "client_disconnected") from None
    if media == FORM_TYPE:
        body = _from_form(body)
    if not body.strip():
        raise BodyError(400, "empty_body")
    return body
