"""What a site measures: its micro-conversions, funnels, experiments and breakdowns."""

from __future__ import annotations

from typing import Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from consumers.api.auth import authorize
from consumers.api.openapi import ERRORS, SITE_PARAM, STR, Schema, obj, ref
from consumers.api.routes.breakdowns import DIMENSIONS
from consumers.api.state import state_of

STRS: Final[Schema] = {"type": "array", "items": STR}


async def site(request: Request) -> Response:
    config = state_of(request)["configs"][authorize(request).id]
    state_of(request)["metrics"].answered += 1
    return JSONResponse(
        {
            "site": config.site,
            "conversions": [c.name for c in config.conversions],
            "funnels": [
                {"name": f.name, "steps": f.step_names(), "window_ms": f.window_ms}
                for f in config.funnels
            ],
            "experiments": [
                {"name": e.name, "variants": list(e.variants), "conversions": list(e.conversions)}
                for e in config.experiments
            ],
            "breakdowns": list(DIMENSIONS),
        }
    )


routes: list[BaseRoute] = [Route("/v1/sites/{site}", site)]

SCHEMAS: Final[dict[str, Schema]] = {
    "Site": obj(
        {
            "site": STR,
            "conversions": STRS,
            "funnels": {
                "type": "array",
                "items": obj({"name": STR, "steps": STRS, "window_ms": {"type": "integer"}}),
            },
            "experiments": {
                "type": "array",
                "items": obj({"name": STR, "variants": STRS, "conversions": STRS}),
            },
            "breakdowns": STRS,
        }
    )
}
PATHS: Final[dict[str, Schema]] = {
    "/v1/sites/{site}": {
        "get": {
            "summary": "What the site's config measures",
            "security": [{"readToken": []}],
            "parameters": [SITE_PARAM],
            "responses": {
                "200": {
                    "description": "The site's measurement config",
                    "content": {"application/json": {"schema": ref("Site")}},
                },
                **{k: v for k, v in ERRORS.items() if k != "503"},
            },
        }
    }
}
