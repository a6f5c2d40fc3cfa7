"""What every request handler shares: the parts built once at start-up, and the answers they give.

The lifespan builds one Runtime and hands it to Starlette as state; handlers read it with
`runtime(request)`. Nothing here is created per request.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict, cast

import orjson
from starlette import responses
from starlette.requests import Request

from collector.bots import BotDetector
from collector.clientip import ClientAddresses
from collector.cors import Cors
from collector.ingest import Ingest, Unavailable
from collector.metrics import Metrics
from collector.ratelimit import RateLimiter
from collector.records import Record
from collector.settings import Settings
from collector.siblings import Siblings
from collector.visitor import VisitorIds
from snippet.sites import Sites


class JSONResponse(responses.JSONResponse):
    """Starlette's JSON answer rendered by orjson: the same compact UTF-8 bytes in half the
    time (every beacon's answer is one)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    sites: Sites
    write_keys: Mapping[str, str]  # Segment write key -> site id
    ingest: Ingest
    metrics: Metrics
    visitors: VisitorIds
    bots: BotDetector
    cors: Cors
    addresses: ClientAddresses
    client_limits: RateLimiter
    site_limits: RateLimiter
    siblings: Siblings | None = None  # the other workers on this port, when there are any

    def error(
        self,
        status: int,
        reason: str,
        detail: str = "",
        headers: Mapping[str, str] | None = None,
        events: int = 1,
    ) -> JSONResponse:
        """A refusal with its reason, counted under that reason (once, or once per event)."""
        self.metrics.reject(reason, events)
        # "code"/"message" are what Segment's libraries read from an error.
        body = {"error": reason, "detail": detail, "code": reason, "message": detail or reason}
        return JSONResponse(body, status_code=status, headers=dict(headers or {}))

    def refuse(self, request: Request, status: int, reason: str, detail: str = "") -> JSONResponse:
        """A refusal given before the request's site is known (collector/cors.py says why it
        carries CORS headers all the same)."""
        return self.error(status, reason, detail, self.cors.refusal_headers(request))

    def too_many(self, reason: str, wait: float, headers: Mapping[str, str]) -> JSONResponse:
        # Retry-After counts whole seconds, at least one: the detail says the same.
        seconds = max(1, math.ceil(wait))
        retry = {**headers, "Retry-After": str(seconds)}
        return self.error(429, reason, f"retry in {seconds} s", retry)

    def client_address(self, request: Request) -> str:
        peer = request.client.host if request.client else ""
        return self.addresses.resolve(peer, request.headers)

    def limit_client(self, request: Request, address: str) -> JSONResponse | None:
        if not (wait := self.client_limits.take(rate_key(address))):
            return None
        return self.too_many("client_rate_limited", wait, self.cors.refusal_headers(request))

    def limit_site(self, site: str, events: int, headers: Mapping[str, str]) -> JSONResponse | None:
        wait = self.site_limits.take(site, events)
        return self.too_many("site_rate_limited", wait, headers) if wait else None

    async def deliver(
        self, records: Sequence[Record], headers: Mapping[str, str]
    ) -> JSONResponse | None:
        """None once the records are safe (Kafka or spool); else the 503 to answer."""
        try:
            await self.ingest.accept(records)
        except Unavailable as exc:
            retry = {**headers, "Retry-After": str(exc.retry_after)}
            return self.error(503, exc.reason, "retry later", retry, events=len(records))
        self.metrics.bots += sum(1 for r in records if r.bot)
        return None


class State(TypedDict):
    runtime: Runtime


def runtime(request: Request) -> Runtime:
    # The lifespan's state, which Starlette copies into every request's ASGI scope.
    return cast(State, request.scope["state"])["runtime"]


def rate_key(address: str) -> str:
    """The rate-limit bucket of a client address: an IPv6 client gets a whole /64 (one
    subscriber's usual share), so rotating through its own addresses buys it nothing."""
    if ":" not in address:
        return address
    try:
        return str(ipaddress.IPv6Network((address.split("%", 1)[0], 64), strict=False))
    except ValueError:
        return address
