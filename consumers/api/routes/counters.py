"""Counters over a span, and their time series."""

from __future__ import annotations

from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from consumers import reads
from consumers.api.auth import authorize
from consumers.api.export import Cell, Table, respond
from consumers.api.openapi import (
    COUNT,
    INT,
    SPAN_PARAMS,
    SPAN_PROPS,
    STR,
    Schema,
    data_op,
    obj,
    ref,
)
from consumers.api.params import (
    MAX_NAMES,
    MAX_POINTS,
    Span,
    format_of,
    names_of,
    resolution_of,
    span_of,
)
from consumers.api.state import state_of
from consumers.config import SiteConfig
from consumers.keys import Family
from consumers.redisconn import AnyRedis

CV: Final = "cv:"


def span_fields(span: Span) -> dict[str, str | int | None]:
    return {"window": span.window, "from": span.from_ms, "to": span.to_ms}


def _counts(counts: dict[str, reads.ConversionCount]) -> dict[str, dict[str, int]]:
    return {k: {"count": c.count, "visitors": c.visitors} for k, c in counts.items()}


async def read_counters(
    redis: AnyRedis, config: SiteConfig, span: Span
) -> tuple[dict[str, object], Table]:
    """The Counters answer: raw counters, and count + unique visitors per kind and conversion."""
    summary = await reads.summary(redis, config, span.first, span.last)
    totals = summary.counters
    body: dict[str, object] = {
        "site": config.site,
        **span_fields(span),
        "counters": totals,
        "visitors": summary.visitors,
        "kinds": _counts(summary.kinds),
        "conversions": _counts(summary.conversions),
    }
    visitors = {k: c.visitors for k, c in summary.kinds.items()}
    rows: list[list[Cell]] = [[n, count, visitors.get(n)] for n, count in totals.items()]
    rows += [[CV + n, c.count, c.visitors] for n, c in summary.conversions.items()]
    return body, Table(["name", "count", "visitors"], rows)


async def counters(request: Request) -> Response:
    site = authorize(request)
    span = span_of(request)
    format_of(request)  # refuse a bad format before reading anything
    state = state_of(request)
    body, table = await read_counters(state["redis"], state["configs"][site.id], span)
    return respond(request, body, table, "counters")


async def series(request: Request) -> Response:
    site = authorize(request)
    span = span_of(request)
    res = resolution_of(request, span)
    names = names_of(request, required=True)
    format_of(request)
    redis = state_of(request)["redis"]
    # "cv:<name>" is a configured micro-conversion; anything else is an event counter field.
    cvs = [n.removeprefix(CV) for n in names if n.startswith(CV)]
    fields = [n for n in names if not n.startswith(CV)]
    values: dict[str, list[int]] = {}
    stamps: list[int] = []
    families: list[tuple[Family, list[str], str]] = [("c", fields, ""), ("cv", cvs, CV)]
    for family, wanted, prefix in families:
        if wanted:
            got = await reads.series(redis, site.id, family, wanted, span.first, span.last, res)
            stamps = got.starts
            values.update({prefix + f: v for f, v in got.values.items()})
    body = {
        "site": site.id,
        **span_fields(span),
        "resolution": res,
        "names": names,
        "timestamps": stamps,
        "series": {n: values[n] for n in names},
    }
    rows = [[t, *(values[n][i] for n in names)] for i, t in enumerate(stamps)]
    return respond(request, body, Table(["timestamp", *names], rows), "series")


routes: list[BaseRoute] = [
    Route("/v1/sites/{site}/counters", counters),
    Route("/v1/sites/{site}/series", series),
]

VISITORS: Final = "Unique visitors, estimated with HyperLogLog (about 0.8 % standard error)"

SCHEMAS: Final[dict[str, Schema]] = {
    "Count": obj({"count": COUNT, "visitors": {**COUNT, "description": VISITORS}}),
    "Counters": obj(
        {
            **SPAN_PROPS,
            "counters": {
                "type": "object",
                "additionalProperties": COUNT,
                "description": "Events per kind and per kind:name, e.g. click:add_to_cart",
            },
            "visitors": {**COUNT, "description": "Visitors with any event. " + VISITORS},
            "kinds": {
                "type": "object",
                "additionalProperties": ref("Count"),
                "description": "Per event kind",
            },
            "conversions": {
                "type": "object",
                "additionalProperties": ref("Count"),
                "description": "Per micro-conversion of the site's config",
            },
        }
    ),
    "Series": obj(
        {
            **SPAN_PROPS,
            "resolution": {"enum": ["m", "h", "d"]},
            "names": {"type": "array", "items": STR},
            "timestamps": {
                "type": "array",
                "items": INT,
                "description": "Start of each bucket, ms since the epoch",
            },
            "series": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": COUNT},
                "description": "Per name, one count per timestamp",
            },
        }
    ),
}

PATHS: Final[dict[str, Schema]] = {
    "/v1/sites/{site}/counters": data_op(
        "Events per kind and kind:name over a window or range", "Counters", SPAN_PARAMS
    ),
    "/v1/sites/{site}/series": data_op(
        "Time series of named counters",
        "Series",
        [
            *SPAN_PARAMS,
            {
                "name": "names",
                "in": "query",
                "required": True,
                "description": f"Comma-separated names, at most {MAX_NAMES}: counter "
                "fields (pageview, click:add_to_cart) or cv:<micro-conversion>",
                "schema": STR,
            },
            {
                "name": "resolution",
                "in": "query",
                "description": "m, h or d; default the finest kept for the span that gives "
                f"at most {MAX_POINTS} points",
                "schema": {"enum": ["m", "h", "d"]},
            },
        ],
    ),
}
