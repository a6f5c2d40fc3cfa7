"""The collector's HTTP app: an app factory with a lifespan that owns Kafka, the spool and Redis.

One beacon's path: client address and its rate limit -> body (bounded, decoded) -> schema ->
site and Origin checks -> site rate limit -> bot check, visitor id, corrected time -> records ->
Kafka or the disk spool (collector/ingest.py) -> 202.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from collector import segment
from collector.body import BodyError, read_json_body
from collector.bots import BotDetector
from collector.clientip import ClientAddresses
from collector.cors import Cors, request_host
from collector.devices import device_of, with_device
from collector.ingest import Ingest
from collector.links import classify
from collector.metrics import Metrics
from collector.producer import EventProducer
from collector.ratelimit import RateLimiter
from collector.records import make_record
from collector.runtime import JSONResponse, Runtime, State, runtime
from collector.schema import MAX_BODY_BYTES, SchemaError, corrected_time, parse_beacon
from collector.settings import Settings
from collector.siblings import Siblings
from collector.spool import open_slot
from collector.tagserve import tag_routes
from collector.visitor import DailySalts, VisitorIds
from collector.writekeys import parse_write_keys
from snippet.generator import TAG_PATH
from snippet.sites import Sites, load_sites

logger = logging.getLogger(__name__)


async def collect(request: Request) -> Response:
    rt = runtime(request)
    address = rt.client_address(request)
    if refused := rt.limit_client(request, address):
        return refused
    try:
        beacon = parse_beacon(
            await read_json_body(request, MAX_BODY_BYTES, rt.settings.body_timeout_s)
        )
    except BodyError as exc:
        return rt.refuse(request, exc.status, exc.reason, exc.detail)
    except SchemaError as exc:
        return rt.refuse(request, 400, exc.reason, exc.detail)
    site = rt.sites.get(beacon.site)
    if site is None:
        return rt.refuse(request, 400, "unknown_site", "not in the sites config")
    host = request_host(request)
    if host is None:
        return rt.refuse(request, 403, "origin_missing", "an Origin or Referer header is required")
    if not site.allows_host(host):
        return rt.refuse(request, 403, "origin_not_allowed", "not one of the site's domains")
    cors = rt.cors.headers(request, site)
    if refused := rt.limit_site(site.id, len(beacon.events), cors):
        return refused

    received = int(time.time() * 1000)
    user_agent = request.headers.get("user-agent", "")
    bot = rt.bots.is_bot(user_agent)
    device = device_of(user_agent)
    # A tag with persist_visitor sends its own id: a visitor that lasts across days.
    visitor = (
        rt.visitors.client_visitor_id(site.id, beacon.client_id)
        if beacon.client_id
        else rt.visitors.visitor_id(site.id, address, user_agent)
    )
    rejected = list(beacon.rejected)
    records = []
    for index, event in enumerate(beacon.events):
        ts = corrected_time(event.ts, beacon.sent_at, received)
        if ts is None:
            rejected.append((index, "too_old"))
            continue
        # Link clicks become downloads and outbound events here, not in the tag.
        if (counted := classify(event, site)) is None:
            rt.metrics.ignored += 1
            continue
        event = with_device(counted, device)
        records.append(
            make_record(event, site=site.id, visitor=visitor, ts=ts, received=received, bot=bot)
        )
    for _, reason in rejected:
        rt.metrics.reject(reason)
    if not records and rejected:
        # The events' own reasons are counted above; the request adds none of its own.
        return JSONResponse(
            {"error": "no_valid_event", "rejected": rejected}, status_code=400, headers=cors
        )
    # Events the site counts as nothing (collector/links.py) leave nothing to deliver.
    if records and (refused := await rt.deliver(records, cors)):
        return refused
    return JSONResponse(
        {"accepted": len(records), "rejected": rejected}, status_code=202, headers=cors
    )


async def preflight(request: Request) -> Response:
    rt = runtime(request)
    response = rt.cors.preflight(request)
    if response.status_code >= 400:
        rt.metrics.reject("preflight_origin_not_allowed")
    return response


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
    """Ready when the brokers answer and the spool has room; a balancer sends traffic elsewhere
    otherwise."""
    rt = runtime(request)
    spool = rt.ingest.spool
    problems = []
    if not await rt.ingest.producer.reachable():
        problems.append("kafka unreachable")
    if not spool.has_room(1):
        problems.append("spool full")
    if problems:
        return PlainTextResponse("; ".join(problems), status_code=503)
    return PlainTextResponse("ready")


async def metrics_endpoint(request: Request) -> Response:
    rt = runtime(request)
    others = rt.siblings.others() if rt.siblings is not None else ()
    return PlainTextResponse(rt.metrics.render(others), media_type="text/plain; version=0.0.4")


def _gauges(metrics: Metrics, ingest: Ingest, salts: DailySalts) -> None:
    spool, producer = ingest.spool, ingest.producer
    metrics.gauges.update(
        {
            "microcv_spool_events": (
                "Events in the disk spool, not yet in Kafka.",
                lambda: spool.pending_events,
            ),
            "microcv_spool_bytes": (
                "Bytes of the disk spool not yet in Kafka.",
                lambda: spool.pending_bytes,
            ),
            "microcv_spool_max_bytes": (
                "The spool's size limit (with several workers: the sum of their slots' limits).",
                lambda: spool.max_bytes,
            ),
            "microcv_kafka_down": (
                "1 while events go to the spool instead of Kafka (with several workers: how many "
                "of them do).",
                lambda: int(ingest.kafka_down),
            ),
            "microcv_produce_late_acks": (
                "Spooled events Kafka took after their produce timed out; the replayer skips them.",
                lambda: producer.late_acks,
            ),
            "microcv_spool_uncertain_resends": (
                "Spooled events resent although their first send's fate was unknown: possible "
                "duplicates in the topic, dropped by the consumers' event-id dedupe.",
                lambda: producer.uncertain_resends,
            ),
            "microcv_spool_late_ack_skips": (
                "Spooled events the replayer skipped because Kafka acknowledged their first send "
                "late: spooled = replayed + these, once the spool is drained.",
                lambda: ingest.late_ack_skips,
            ),
            "microcv_producers_replaced": (
                "Kafka producers replaced after a sequence error left them failing every send.",
                lambda: producer.replaced,
            ),
            "microcv_visitor_salt_fallbacks": (
                "Daily salts made locally because Redis did not answer.",
                lambda: salts.fallbacks,
            ),
        }
    )


async def allow(request: Request) -> Response:
    # OPTIONS on a non-CORS path: say what it takes rather than 405.
    return Response(status_code=204, headers={"Allow": "GET, HEAD, OPTIONS"})


def create_app(settings: Settings, sites: Sites | None = None) -> Starlette:
    # Everything that can be wrong with the configuration fails here, before the port opens.
    loaded_sites = sites if sites is not None else load_sites(settings.sites_path)
    write_keys = parse_write_keys(loaded_sites)
    addresses = ClientAddresses(settings.trusted_proxies)
    bots = BotDetector()
    cors = Cors(loaded_sites)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        t = settings.redis_timeout_s
        redis = Redis.from_url(settings.redis_url, socket_timeout=t, socket_connect_timeout=t)
        salts = DailySalts(redis, t)
        metrics = Metrics()
        producer = EventProducer(settings)
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(redis.aclose)
            await salts.start()
            stack.push_async_callback(salts.stop)
            await producer.start()
            # By the time the producer stops, the requests are answered (within the grace) and
            # only replayed spool chunks can be in it, whose segments stay on disk until
            # acknowledged: one produce bound is enough, and the whole shutdown stays close to
            # the grace instead of twice it.
            stack.push_async_callback(
                _stop_producer, producer, min(settings.grace_s, settings.produce_timeout_s)
            )
            spool = open_slot(
                settings.spool_dir,
                settings.port,
                settings.spool_max_bytes,
                settings.spool_segment_bytes,
                settings.workers,
            )
            stack.push_async_callback(spool.close)
            ingest = Ingest(producer, spool, metrics)
            _gauges(metrics, ingest, salts)
            siblings = None
            if settings.workers > 1:
                siblings = Siblings(metrics, spool.path, settings.spool_dir, settings.port)
                await siblings.start()
                # Pushed before the ingest's stop, so run after it (last in, first out): the
                # last snapshot holds every event this worker answered.
                stack.push_async_callback(siblings.stop)
            await ingest.start()
            stack.push_async_callback(ingest.stop)
            logger.info(
                "collector up: %d sites, %d write keys, topic %s on %s, spool %s (%d events)",
                len(loaded_sites),
                len(write_keys),
                settings.topic,
                settings.kafka_bootstrap,
                spool.path,
                spool.pending_events,
            )
            yield State(
                runtime=Runtime(
                    settings=settings,
                    sites=loaded_sites,
                    write_keys=write_keys,
                    ingest=ingest,
                    metrics=metrics,
                    visitors=VisitorIds(salts, settings.visitor_secret),
                    bots=bots,
                    cors=cors,
                    addresses=addresses,
                    client_limits=RateLimiter(settings.client_rate, settings.client_burst),
                    site_limits=RateLimiter(settings.site_rate, settings.site_burst),
                    siblings=siblings,
                )
            )
        logger.info(
            "collector stopped: %d accepted = %d produced + %d spooled; %d left in the spool",
            metrics.accepted,
            metrics.produced,
            metrics.spooled,
            spool.pending_events,
        )

    collector_paths = ["/v1/collect", *segment.PATHS]
    routes = [
        Route("/v1/collect", collect, methods=["POST"]),
        *segment.routes(),
        *(Route(path, preflight, methods=["OPTIONS"]) for path in collector_paths),
        *tag_routes(loaded_sites, reject=lambda r, reason: runtime(r).metrics.reject(reason)),
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/readyz", readyz, methods=["GET", "HEAD"]),
        Route("/metrics", metrics_endpoint, methods=["GET", "HEAD"]),
        *(
            Route(p, allow, methods=["OPTIONS"])
            for p in (TAG_PATH, "/healthz", "/readyz", "/metrics")
        ),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: _not_routed, 405: _not_routed},
    )
    # "/v1/collect/" is refused like any unknown path (404 unknown_path, counted), not redirected
    # with a 307 that sendBeacon does not follow and no metric sees.
    app.router.redirect_slashes = False
    return app


async def _not_routed(request: Request, exc: Exception) -> Response:
    # A path or method the collector does not serve: refused like any other input, with a
    # reason and a metric, so a misconfigured client shows up in /metrics.
    assert isinstance(exc, HTTPException)
    rt = runtime(request)
    reason = "unknown_path" if exc.status_code == 404 else "method_not_allowed"
    headers = {**rt.cors.refusal_headers(request), **(exc.headers or {})}  # 405 keeps its Allow
    return rt.error(exc.status_code, reason, exc.detail, headers)


async def _stop_producer(producer: EventProducer, grace_s: float) -> None:
    # Cutting the flush short loses nothing (see where it is pushed onto the stack).
    if not await producer.stop(grace_s):
        logger.warning("producer did not flush within %g s; the spool keeps the rest", grace_s)
