"""The bare references: what a benchmark's real component is compared with.

`collect_app` is the least a beacon endpoint can do on the collector's server settings: read the
body and answer 204. `api_app` answers the counters path with a fixed body and no Redis.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

# What the query API answers for the benchmark's 30-day window, set by bench.query before start.
API_BODY_ENV = "MICROCV_BENCH_API_BODY"


async def _collect(request: Request) -> Response:
    await request.body()
    return Response(status_code=204)


async def _healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


collect_app = Starlette(
    routes=[Route("/v1/collect", _collect, methods=["POST"]), Route("/healthz", _healthz)]
)


_BODY = os.environ.get(API_BODY_ENV, "{}").encode()


async def _counters(request: Request) -> Response:
    return Response(_BODY, media_type="application/json")


api_app = Starlette(
    routes=[Route("/v1/sites/{site}/counters", _counters), Route("/healthz", _healthz)]
)
