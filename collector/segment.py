"""Segment-compatible input: /v1/track, /v1/page, /v1/identify and /v1/batch.

A site's Segment libraries (analytics-python, analytics.js, ...) can point their host at the
collector. The write key, sent as the HTTP Basic user name (or as `writeKey` in the body), names
the site. Each message becomes one microcv event:

    track    -> kind "custom",   name = event,  props = properties
    page     -> kind "pageview", name = name,   props = properties
    identify -> kind "identify", no name and no props: traits are never kept

`messageId` is the event id, `timestamp` the client's event time and `sentAt` its send time, so a
library's retry of a batch carries the same ids and the consumers count each message once. The
visitor id is the keyed daily hash of `userId` (or `anonymousId`), never the id itself.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from collector.body import BodyError, read_json_body
from collector.cors import request_host
from collector.records import Record, make_record
from collector.runtime import JSONResponse, Runtime, runtime
from collector.schema import (
    MAX_ID_LEN,
    MAX_SEGMENT_BODY_BYTES,
    PropValue,
    SchemaError,
    corrected_time,
    load_json,
    parse_event,
)

PATHS: Final = ("/v1/track", "/v1/page", "/v1/identify", "/v1/batch")
KIND_OF: Final = {"track": "custom", "page": "pageview", "identify": "identify"}
# Segment's batch limit is 500 KB; at its 32 KB per message that is well under this many.
MAX_MESSAGES: Final = 500
_AUTH_HEADERS: Final = {"WWW-Authenticate": 'Basic realm="microcv"'}


def _write_key(request: Request, doc: Mapping[str, Any]) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            user = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user.partition(":")[0]
    key = doc.get("writeKey")
    return key if isinstance(key, str) else None


def _ms(value: Any) -> int | None:
    """An ISO 8601 time (what Segment's libraries send) as ms since the epoch."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None  # a time without its zone is no time at all
    return int(parsed.timestamp() * 1000)


def _scalars(properties: Any) -> dict[str, PropValue]:
    # Counters use scalar properties only; nested objects, lists and nulls are left out.
    if not isinstance(properties, dict):
        return {}
    return {k: v for k, v in properties.items() if isinstance(v, str | int | float | bool)}


def _page(message: Mapping[str, Any]) -> Mapping[str, Any]:
    context = message.get("context")
    page = context.get("page") if isinstance(context, dict) else None
    return page if isinstance(page, dict) else {}


def _event(message: Any, kind_of: str, received: int) -> dict[str, Any]:
    """A Segment message in the beacon's event format (validated by schema.parse_event)."""
    if not isinstance(message, dict):
        raise SchemaError("bad_event", "a message is an object")
    declared = kind_of or message.get("type")
    kind = KIND_OF.get(declared) if isinstance(declared, str) else None
    if kind is None:
        raise SchemaError("unsupported_type", "track, page or identify")
    raw_props = message.get("properties")
    properties = raw_props if isinstance(raw_props, dict) and kind != "identify" else {}
    page = _page(message) if kind != "identify" else {}
    name = message.get("event") if kind == "custom" else message.get("name")
    if kind == "custom" and not name:
        raise SchemaError("missing_event")
    ts = _ms(message.get("timestamp")) if "timestamp" in message else received
    if ts is None:
        raise SchemaError("bad_timestamp", "an ISO 8601 time with its zone")
    url = page.get("url") or properties.get("url") or ""
    referrer = page.get("referrer") or properties.get("referrer") or ""
    return {
        "i": message.get("messageId"),
        "k": kind,
        "n": name if kind != "identify" else None,
        "ts": ts,
        "u": url,
        "r": referrer,
        "p": _scalars(properties),
    }


def _user(message: Mapping[str, Any]) -> str:
    for field in ("userId", "anonymousId"):
        value = message.get(field)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return str(value)[: MAX_ID_LEN * 4]
    raise SchemaError("missing_user", "userId or anonymousId")


def _user_agent(message: Mapping[str, Any]) -> str | None:
    context = message.get("context")
    ua = context.get("userAgent") if isinstance(context, dict) else None
    return ua if isinstance(ua, str) else None


def _records(
    rt: Runtime, site: str, doc: Mapping[str, Any], kind_of: str
) -> tuple[list[Record], list[tuple[int, str]]]:
    messages = doc.get("batch") if kind_of == "" else [doc]
    if not isinstance(messages, list) or not messages:
        raise SchemaError("bad_batch", "batch must be a non-empty list")
    if len(messages) > MAX_MESSAGES:
        raise SchemaError("too_many_events", f"at most {MAX_MESSAGES} messages per request")
    received = int(time.time() * 1000)
    sent_at = _ms(doc.get("sentAt"))
    records: list[Record] = []
    rejected: list[tuple[int, str]] = []
    for index, message in enumerate(messages):
        try:
            event = parse_event(_event(message, kind_of, received))
            ts = corrected_time(event.ts, sent_at, received)
            if ts is None:
                raise SchemaError("too_old")
            visitor = rt.visitors.user_visitor_id(site, _user(message))
            user_agent = _user_agent(message)
            # A server-side call carries no browser: it is a bot only if it relays one's UA.
            bot = user_agent is not None and rt.bots.is_bot(user_agent)
        except SchemaError as exc:
            rejected.append((index, exc.reason))
            continue
        records.append(
            make_record(event, site=site, visitor=visitor, ts=ts, received=received, bot=bot)
        )
    return records, rejected


async def _handle(request: Request, kind_of: str) -> Response:
    rt = runtime(request)
    if refused := rt.limit_client(request, rt.client_address(request)):
        return refused
    try:
        doc = load_json(
            await read_json_body(request, MAX_SEGMENT_BODY_BYTES, rt.settings.body_timeout_s)
        )
    except BodyError as exc:
        return rt.refuse(request, exc.status, exc.reason, exc.detail)
    except SchemaError as exc:
        return rt.refuse(request, 400, exc.reason, exc.detail)
    if not isinstance(doc, dict):
        return rt.refuse(request, 400, "bad_envelope", "a JSON object")
    key = _write_key(request, doc)
    site_id = rt.write_keys.get(key) if key else None
    site = rt.sites.get(site_id) if site_id else None
    if site is None:
        return rt.error(401, "bad_write_key", "HTTP Basic user name", _AUTH_HEADERS)
    # Server-side libraries send no Origin; a browser's must be one of the site's.
    host = request_host(request)
    if host is not None and not site.allows_host(host):
        return rt.error(403, "origin_not_allowed", "not one of the site's domains")
    cors = rt.cors.headers(request, site)
    try:
        records, rejected = _records(rt, site.id, doc, kind_of)
    except SchemaError as exc:
        return rt.error(400, exc.reason, exc.detail, cors)
    for _, reason in rejected:
        rt.metrics.reject(reason)
    if not records:
        return JSONResponse(
            {"error": "no_valid_event", "code": "no_valid_event", "message": "no valid message",
             "rejected": rejected},
            status_code=400,
            headers=cors,
        )  # fmt: skip
    if refused := rt.limit_site(site.id, len(records), cors):
        return refused
    if refused := await rt.deliver(records, cors):
        return refused
    return JSONResponse(
        {"success": True, "accepted": len(records), "rejected": rejected}, headers=cors
    )


async def track(request: Request) -> Response:
    return await _handle(request, "track")


async def page(request: Request) -> Response:
    return await _handle(request, "page")


async def identify(request: Request) -> Response:
    return await _handle(request, "identify")


async def batch(request: Request) -> Response:
    return await _handle(request, "")


def routes() -> list[Route]:
    handlers = (track, page, identify, batch)
    return [Route(p, h, methods=["POST"]) for p, h in zip(PATHS, handlers, strict=True)]
