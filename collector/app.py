"""The collector's HTTP app: an app factory with a lifespan that owns the Kafka producer."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import TypedDict, cast
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from collector.metrics import Metrics
from collector.producer import EventProducer, ProduceError
from collector.schema import MAX_BODY_BYTES, SchemaError, corrected_time, make_record, parse_beacon
from collector.settings import Settings
from collector.tagserve import tag_routes
from collector.visitor import VisitorIds
from snippet.sites import Site, Sites, load_sites

logger = logging.getLogger(__name__)


class State(TypedDict):
    settings: Settings
    sites: Sites
    producer: EventProducer
    metrics: Metrics
    visitors: VisitorIds


def _state(request: Request) -> State:
    # The lifespan's state, which Starlette copies into every request's ASGI scope.
    return cast(State, request.scope["state"])


def _error(status: int, reason: str, metrics: Metrics, detail: str = "") -> JSONResponse:
    metrics.reject(reason)
    return JSONResponse({"error": reason, "detail": detail}, status_code=status)


def _request_host(request: Request) -> str | None:
    """The host of the page that sent the beacon, from Origin or else Referer."""
    for header in ("origin", "referer"):
        value = request.headers.get(header)
        if value and value != "null":
            return urlsplit(value).hostname
    return None


def _cors_headers(request: Request, site: Site | None) -> dict[str, str]:
    origin = request.headers.get("origin")
    host = urlsplit(origin).hostname if origin else None
    if site is None or host is None or not site.allows_host(host):
        return {"Vary": "Origin"}
    assert origin is not None
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


async def collect(request: Request) -> Response:
    state = _state(request)
    metrics = state["metrics"]
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return _error(413, "body_too_large", metrics, f"at most {MAX_BODY_BYTES} bytes")
    try:
        beacon = parse_beacon(body)
    except SchemaError as exc:
        return _error(400, exc.reason, metrics, exc.detail)
    site = state["sites"].get(beacon.site)
    if site is None:
        return _error(400, "unknown_site", metrics)
    host = _request_host(request)
    if host is not None and not site.allows_host(host):
        return _error(403, "origin_not_allowed", metrics)
    cors = _cors_headers(request, site)
    for _, reason in beacon.rejected:
        metrics.reject(reason)
    if not beacon.events:
        return JSONResponse(
            {"error": "no_valid_event", "rejected": beacon.rejected}, status_code=400, headers=cors
        )

    received = int(time.time() * 1000)
    client_ip = request.client.host if request.client else ""
    visitor = state["visitors"].visitor_id(
        site.id, client_ip, request.headers.get("user-agent", "")
    )
    records = []
    rejected = list(beacon.rejected)
    for index, event in enumerate(beacon.events):
        ts = corrected_time(event.ts, beacon.sent_at, received)
        if ts is None:
            metrics.reject("too_old")
            rejected.append((index, "too_old"))
            continue
        records.append(
            make_record(event, site=site.id, visitor=visitor, ts=ts, received=received, bot=False)
        )
    try:
        await state["producer"].send_all(records)
    except ProduceError:
        return _error(503, "kafka_unavailable", metrics)
    metrics.accepted += len(records)
    metrics.produced += len(records)
    return JSONResponse(
        {"accepted": len(records), "rejected": rejected}, status_code=202, headers=cors
    )


async def preflight(request: Request) -> Response:
    origin = request.headers.get("origin")
    headers = {
        "Vary": "Origin",
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": "Content-Type",
        "Access-Control-Max-Age": "86400",
    }
    if origin:
        headers["Access-Control-Allow-Origin"] = origin
    return Response(status_code=204, headers=headers)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def metrics_endpoint(request: Request) -> Response:
    state = _state(request)
    return PlainTextResponse(state["metrics"].render(), media_type="text/plain; version=0.0.4")


def create_app(settings: Settings, sites: Sites | None = None) -> Starlette:
    loaded_sites = sites if sites is not None else load_sites(settings.sites_path)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        producer = EventProducer(settings)
        await producer.start()
        logger.info(
            "collector up: %d sites, topic %s on %s",
            len(loaded_sites),
            settings.topic,
            settings.kafka_bootstrap,
        )
        try:
            yield State(
                settings=settings,
                sites=loaded_sites,
                producer=producer,
                metrics=Metrics(),
                visitors=VisitorIds(settings.visitor_secret),
            )
        finally:
            await producer.stop()
            logger.info("collector stopped")

    return Starlette(
        routes=[
            Route("/v1/collect", collect, methods=["POST"]),
            Route("/v1/collect", preflight, methods=["OPTIONS"]),
            *tag_routes(loaded_sites, reject=lambda r, reason: _state(r)["metrics"].reject(reason)),
            Route("/healthz", healthz),
            Route("/metrics", metrics_endpoint),
        ],
        lifespan=lifespan,
    )
