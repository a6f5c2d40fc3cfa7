"""Funnels: how many funnel entries reached each step, and the conversion rates between steps.

A funnel entry is one visitor's pass through the funnel, started in the span (step 1) and
advanced within the funnel's window; consumers.writes keeps steps in order per visitor.
"""

from __future__ import annotations

from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from consumers import reads
from consumers.api.auth import authorize
from consumers.api.export import Cell, Table, respond
from consumers.api.openapi import COUNT, RATE, SPAN_PARAMS, SPAN_PROPS, STR, Schema, data_op, obj
from consumers.api.params import format_of, named, span_of
from consumers.api.routes.counters import span_fields
from consumers.api.state import state_of


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def steps_json(report: reads.FunnelReport) -> list[dict[str, str | int | float | None]]:
    first = report.steps[0].entries if report.steps else 0
    steps: list[dict[str, str | int | float | None]] = []
    for i, step in enumerate(report.steps):
        before = report.steps[i - 1].entries if i else step.entries
        steps.append(
            {
                "step": step.name,
                "visitors": step.entries,
                "rate_from_previous": rate(step.entries, before),
                "rate_from_start": rate(step.entries, first),
                "drop_off": max(0, before - step.entries),
            }
        )
    return steps


def funnel_json(report: reads.FunnelReport) -> dict[str, object]:
    first = report.steps[0].entries if report.steps else 0
    steps = steps_json(report)
    overall = rate(report.steps[-1].entries, first) if report.steps else None
    return {
        "name": report.name,
        "window_ms": report.window_ms,
        "steps": steps,
        "overall_rate": overall,
    }


async def funnels(request: Request) -> Response:
    site = authorize(request)
    span = span_of(request)
    format_of(request)
    state = state_of(request)
    specs = named(request, state["configs"][site.id].funnels, "funnel")
    reports = [await reads.funnel(state["redis"], site.id, f, span.first, span.last) for f in specs]
    header = ["funnel", "position", "step", "visitors", "rate_from_previous", "rate_from_start"]
    rows: list[list[Cell]] = [
        [r.name, i + 1, *(s[k] for k in header[2:])]
        for r in reports
        for i, s in enumerate(steps_json(r))
    ]
    body = {"site": site.id, **span_fields(span), "funnels": [funnel_json(r) for r in reports]}
    return respond(request, body, Table(header, rows), "funnels")


routes: list[BaseRoute] = [
    Route("/v1/sites/{site}/funnels", funnels),
    Route("/v1/sites/{site}/funnels/{name}", funnels),
]

FUNNEL: Final[Schema] = obj(
    {
        "name": STR,
        "window_ms": {"type": "integer", "description": "Time allowed from step 1 to the last"},
        "steps": {
            "type": "array",
            "items": obj(
                {
                    "step": {**STR, "description": "The step's conversion(s), a | b"},
                    "visitors": {**COUNT, "description": "Funnel entries that reached the step"},
                    "rate_from_previous": RATE,
                    "rate_from_start": RATE,
                    "drop_off": {**COUNT, "description": "Lost since the previous step"},
                }
            ),
        },
        "overall_rate": RATE,
    }
)
SCHEMAS: Final[dict[str, Schema]] = {
    "Funnel": FUNNEL,
    "Funnels": obj({**SPAN_PROPS, "funnels": {"type": "array", "items": FUNNEL}}),
}
NAME_PARAM: Final[Schema] = {"name": "name", "in": "path", "required": True, "schema": STR}
PATHS: Final[dict[str, Schema]] = {
    "/v1/sites/{site}/funnels": data_op(
        "Every funnel of the site: visitors per step, step-to-step and overall rates",
        "Funnels",
        SPAN_PARAMS,
    ),
    "/v1/sites/{site}/funnels/{name}": data_op(
        "One funnel (404 unknown_funnel when the config has no such funnel)",
        "Funnels",
        [NAME_PARAM, *SPAN_PARAMS],
    ),
}
