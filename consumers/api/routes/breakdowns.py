"""Breakdowns over a span: top pages, sources, UTM tags, devices, downloads, clicked elements;
the scroll-depth distribution per page; the click heatmap grid of a page."""

from __future__ import annotations

from typing import Final, cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from consumers import reads
from consumers.api.auth import authorize
from consumers.api.errors import ApiError
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
)
from consumers.api.params import format_of, limit_of, span_of
from consumers.api.routes.counters import span_fields
from consumers.api.state import state_of
from consumers.keys import Breakdown

# The dimensions answered as top lists; scroll and heat have their own shapes below.
DIMENSIONS: Final[tuple[Breakdown, ...]] = ("page", "source", "utm", "device", "download", "click")
MAX_PATH_LEN: Final = 512


def path_of(request: Request, *, required: bool) -> str | None:
    path = request.query_params.get("path")
    if path is None:
        if required:
            raise ApiError(400, "missing_path", "path is the page's URL path, e.g. /product.html")
        return None
    if not path.startswith("/") or len(path) > MAX_PATH_LEN:
        raise ApiError(400, "bad_path", f"a URL path starts with / (at most {MAX_PATH_LEN})")
    return path


async def breakdown(request: Request) -> Response:
    site = authorize(request)
    dim = request.path_params["dimension"]
    if dim not in DIMENSIONS:
        raise ApiError(404, "unknown_breakdown", f"breakdowns: {', '.join(DIMENSIONS)}")
    span = span_of(request)
    limit = limit_of(request, default=20)
    format_of(request)
    redis = state_of(request)["redis"]
    top = await reads.breakdown(redis, site.id, cast(Breakdown, dim), span.first, span.last, limit)
    body = {
        "site": site.id,
        **span_fields(span),
        "dimension": dim,
        "values": [{"value": v, "count": n} for v, n in top],
    }
    return respond(request, body, Table([dim, "count"], top), f"{dim}s")


async def scroll(request: Request) -> Response:
    site = authorize(request)
    span = span_of(request)
    path = path_of(request, required=False)
    format_of(request)
    redis = state_of(request)["redis"]
    pages = await reads.scroll_depths(redis, site.id, span.first, span.last, path)
    body = {
        "site": site.id,
        **span_fields(span),
        "pages": [
            {"path": p, "depths": [{"depth": d, "count": n} for d, n in depths.items()]}
            for p, depths in pages.items()
        ],
    }
    rows: list[list[Cell]] = [[p, d, n] for p, ds in pages.items() for d, n in ds.items()]
    return respond(request, body, Table(["path", "depth", "count"], rows), "scroll")


async def heatmap(request: Request) -> Response:
    site = authorize(request)
    span = span_of(request)
    path = cast(str, path_of(request, required=True))
    format_of(request)
    redis = state_of(request)["redis"]
    heat = await reads.heatmap(redis, site.id, path, span.first, span.last)
    body = {
        "site": site.id,
        **span_fields(span),
        "path": heat.path,
        "grid": heat.grid,
        "cells": heat.cells,
        "total": heat.total,
    }
    rows = [[r, c, n] for r, row in enumerate(heat.cells) for c, n in enumerate(row) if n]
    return respond(request, body, Table(["row", "column", "clicks"], rows), "heatmap")


routes: list[BaseRoute] = [
    Route("/v1/sites/{site}/breakdowns/{dimension}", breakdown),
    Route("/v1/sites/{site}/scroll", scroll),
    Route("/v1/sites/{site}/heatmap", heatmap),
]

PATH_PARAM: Final[Schema] = {
    "name": "path",
    "in": "query",
    "description": "A page's URL path, e.g. /product.html",
    "schema": {"type": "string", "pattern": "^/", "maxLength": MAX_PATH_LEN},
}
SCHEMAS: Final[dict[str, Schema]] = {
    "Breakdown": obj(
        {
            **SPAN_PROPS,
            "dimension": {"enum": list(DIMENSIONS)},
            "values": {
                "type": "array",
                "items": obj({"value": STR, "count": COUNT}),
                "description": "Most frequent first",
            },
        }
    ),
    "Scroll": obj(
        {
            **SPAN_PROPS,
            "pages": {
                "type": "array",
                "items": obj(
                    {
                        "path": STR,
                        "depths": {
                            "type": "array",
                            "items": obj({"depth": INT, "count": COUNT}),
                            "description": "Scroll events reaching each milestone (%)",
                        },
                    }
                ),
            },
        }
    ),
    "Heatmap": obj(
        {
            **SPAN_PROPS,
            "path": STR,
            "grid": {**INT, "description": "The map is grid x grid cells"},
            "cells": {
                "type": "array",
                "items": {"type": "array", "items": COUNT},
                "description": "cells[row][column]: clicks; row 0 is the top of the page, "
                "columns split the page width, rows the document height",
            },
            "total": COUNT,
        }
    ),
}
PATHS: Final[dict[str, Schema]] = {
    "/v1/sites/{site}/breakdowns/{dimension}": data_op(
        "Top values of a dimension: pages, sources, UTM tags, devices, downloads, clicked elements",
        "Breakdown",
        [
            {
                "name": "dimension",
                "in": "path",
                "required": True,
                "schema": {"enum": list(DIMENSIONS)},
            },
            *SPAN_PARAMS,
            {"name": "limit", "in": "query", "schema": {**INT, "minimum": 1, "maximum": 100}},
        ],
    ),
    "/v1/sites/{site}/scroll": data_op(
        "Scroll-depth distribution per page (or of one page)",
        "Scroll",
        [*SPAN_PARAMS, PATH_PARAM],
    ),
    "/v1/sites/{site}/heatmap": data_op(
        "Click heatmap grid of one page",
        "Heatmap",
        [*SPAN_PARAMS, {**PATH_PARAM, "required": True}],
    ),
}
