"""The OpenAPI 3.1 document of the query API, written by hand and served at /v1/openapi.json.

tests/api/test_openapi.py runs schemathesis against it: every answer must match what is written
here, so a route that changes its shape without this document fails the tests.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(props: dict[str, Schema], required: list[str] | None = None) -> Schema:
    return {"type": "object", "properties": props, "required": required or list(props)}


INT: Final[Schema] = {"type": "integer"}
COUNT: Final[Schema] = {"type": "integer", "minimum": 0}
STR: Final[Schema] = {"type": "string"}
RATE: Final[Schema] = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
NUM_OR_NULL: Final[Schema] = {"type": ["number", "null"]}
COUNTS: Final[Schema] = {"type": "object", "additionalProperties": COUNT}

SPAN_PROPS: Final[dict[str, Schema]] = {
    "site": STR,
    "window": {"type": ["string", "null"], "description": "The rolling window, null for a range"},
    "from": {**INT, "description": "Start of the span read, ms since the epoch (inclusive)"},
    "to": {**INT, "description": "End of the span read, ms since the epoch (exclusive)"},
}

ERROR_SCHEMA: Final[Schema] = obj(
    {
        "error": {**STR, "description": "A short, stable reason, e.g. bad_window"},
        "detail": STR,
    }
)

SPAN_PARAMS: Final[list[Schema]] = [
    {
        "name": "window",
        "in": "query",
        "description": "Rolling window ending now: a number and m, h or d (1m..400d). "
        "Default 24h. Not with from/to.",
        "schema": {"type": "string", "pattern": "^[0-9]{1,6}[mhd]$"},
    },
    {
        "name": "from",
        "in": "query",
        "description": "Start of a custom range, ms since the epoch",
        "schema": INT,
    },
    {
        "name": "to",
        "in": "query",
        "description": "End of a custom range (exclusive), ms since the epoch; default now",
        "schema": INT,
    },
]
FORMAT_PARAM: Final[Schema] = {
    "name": "format",
    "in": "query",
    "description": "json (default) or csv: the same data as one flat table",
    "schema": {"enum": ["json", "csv"]},
}
SITE_PARAM: Final[Schema] = {
    "name": "site",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[a-z0-9_-]{1,64}$"},
}


def _error(description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": ref("Error")}}}


ERRORS: Final[dict[str, Schema]] = {
    "400": _error("Bad parameters; `error` names which"),
    "401": _error("No Bearer token"),
    "403": _error("The token may not read this site"),
    "404": _error("No such site"),
    "503": _error("The counter store (Redis) does not answer; retry"),
}


def data_op(summary: str, schema: str, params: list[Schema], *, csv: bool = True) -> Schema:
    content: Schema = {"application/json": {"schema": ref(schema)}}
    if csv:
        content["text/csv"] = {"schema": STR}
    return {
        "get": {
            "summary": summary,
            "security": [{"readToken": []}],
            "parameters": [SITE_PARAM, *params, *([FORMAT_PARAM] if csv else [])],
            "responses": {"200": {"description": summary, "content": content}, **ERRORS},
        }
    }


class Resource(Protocol):
    """A route module: its routes, and the paths and schemas that document them."""

    routes: list[BaseRoute]
    PATHS: dict[str, Schema]
    SCHEMAS: dict[str, Schema]


def document(resources: Iterable[Resource]) -> Schema:
    paths: dict[str, Schema] = {}
    schemas: dict[str, Schema] = {"Error": ERROR_SCHEMA}
    for resource in resources:
        paths.update(resource.PATHS)
        schemas.update(resource.SCHEMAS)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "microcv query API",
            "version": "1",
            "description": "Micro-conversion counters, series, funnels, experiments, "
            "breakdowns and lead scores of the sites in the sites config.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "readToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "One of the site's read_tokens from the sites config",
                }
            },
        },
    }


def routes(resources: Iterable[Resource]) -> list[BaseRoute]:
    body = document(resources)

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(body)

    return [Route("/v1/openapi.json", openapi_json)]
