"""Lead scores: the visitors with the highest score earned in the span, with their recent
micro-conversions. Scores are kept per day for 35 days (consumers.keys.LEAD_TTL_S)."""

from __future__ import annotations

from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from consumers import reads
from consumers.api.auth import authorize
from consumers.api.export import Cell, Table, respond
from consumers.api.openapi import INT, SPAN_PARAMS, SPAN_PROPS, STR, Schema, data_op, obj
from consumers.api.params import format_of, limit_of, span_of
from consumers.api.routes.counters import span_fields
from consumers.api.state import state_of


async def leads(request: Request) -> Response:
    site = authorize(request)
    span = span_of(request)
    limit = limit_of(request, default=20)
    format_of(request)
    redis = state_of(request)["redis"]
    top = await reads.top_leads(redis, site.id, span.first // 1440, span.last // 1440, limit)
    body = {
        "site": site.id,
        **span_fields(span),
        "leads": [
            {
                "visitor": lead.visitor,
                "score": lead.score,
                "recent": [{"ts": ts, "conversion": name} for ts, name in lead.recent],
            }
            for lead in top
        ],
    }
    rows: list[list[Cell]] = [
        [lead.visitor, lead.score, " ".join(name for _, name in lead.recent)] for lead in top
    ]
    return respond(request, body, Table(["visitor", "score", "recent"], rows), "leads")


routes: list[BaseRoute] = [Route("/v1/sites/{site}/leads", leads)]

SCHEMAS: Final[dict[str, Schema]] = {
    "Leads": obj(
        {
            **SPAN_PROPS,
            "leads": {
                "type": "array",
                "items": obj(
                    {
                        "visitor": {**STR, "description": "The pseudonymous visitor id"},
                        "score": {**INT, "description": "Sum of the weights of its conversions"},
                        "recent": {
                            "type": "array",
                            "items": obj({"ts": INT, "conversion": STR}),
                            "description": "Most recent micro-conversions, newest first",
                        },
                    }
                ),
                "description": "Highest score first; scores count whole days of the span",
            },
        }
    )
}
PATHS: Final[dict[str, Schema]] = {
    "/v1/sites/{site}/leads": data_op(
        "Top lead scores with their recent micro-conversions",
        "Leads",
        [
            *SPAN_PARAMS,
            {"name": "limit", "in": "query", "schema": {**INT, "minimum": 1, "maximum": 100}},
        ],
    )
}
