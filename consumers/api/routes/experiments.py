"""Experiments: per variant, exposed and converting visitors, and each variant against control.

Counts are exact distinct visitors since the experiment's data started (consumers.reads); the
comparison is a two-proportion z-test with a confidence interval (consumers.api.stats).
"""

from __future__ import annotations

from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from consumers import reads
from consumers.api.auth import authorize
from consumers.api.errors import ApiError
from consumers.api.export import Cell, Table, respond
from consumers.api.openapi import COUNT, NUM_OR_NULL, RATE, STR, Schema, data_op, obj
from consumers.api.params import format_of, named
from consumers.api.state import state_of
from consumers.api.stats import compare

CONFIDENCES: Final = ("0.8", "0.9", "0.95", "0.99")
COLUMNS: Final = (
    "converted",
    "rate",
    "difference",
    "uplift",
    "z",
    "p_value",
    "ci_low",
    "ci_high",
    "significant",
)


def confidence_of(request: Request) -> float:
    raw = request.query_params.get("confidence", "0.95")
    if raw not in CONFIDENCES:
        raise ApiError(400, "bad_confidence", f"confidence is one of {', '.join(CONFIDENCES)}")
    return float(raw)


Figures = dict[str, Cell | bool]


def figures(
    report: reads.ExperimentReport, confidence: float
) -> list[tuple[reads.VariantReport, dict[str, Figures]]]:
    """Per variant, per conversion: the counts, and the comparison with control (the first)."""
    control = report.variants[0]
    out = []
    for v in report.variants:
        per_conversion: dict[str, Figures] = {}
        for name, converted in v.converted.items():
            c = compare(control.converted[name], control.exposed, converted, v.exposed, confidence)
            vs = v is not control
            per_conversion[name] = {
                "converted": converted,
                "rate": c.rate_variant,
                "difference": c.difference if vs else None,
                "uplift": c.uplift if vs else None,
                "z": c.z if vs else None,
                "p_value": c.p_value if vs else None,
                "ci_low": c.ci_low if vs else None,
                "ci_high": c.ci_high if vs else None,
                "significant": c.significant if vs else False,
            }
        out.append((v, per_conversion))
    return out


async def experiments(request: Request) -> Response:
    site = authorize(request)
    confidence = confidence_of(request)
    format_of(request)
    state = state_of(request)
    specs = named(request, state["configs"][site.id].experiments, "experiment")
    body_experiments = []
    rows: list[list[Cell]] = []
    for spec in specs:
        report = await reads.experiment(state["redis"], site.id, spec)
        variants = []
        for i, (v, per_conversion) in enumerate(figures(report, confidence)):
            variants.append(
                {"variant": v.variant, "control": i == 0, "exposed": v.exposed,
                 "conversions": per_conversion}
            )  # fmt: skip
            rows += [
                [report.name, v.variant, name, v.exposed, *(f[k] for k in COLUMNS)]
                for name, f in per_conversion.items()
            ]
        body_experiments.append({"name": report.name, "variants": variants})
    body = {"site": site.id, "confidence": confidence, "experiments": body_experiments}
    header = ["experiment", "variant", "conversion", "exposed", *COLUMNS]
    return respond(request, body, Table(header, rows), "experiments")


routes: list[BaseRoute] = [
    Route("/v1/sites/{site}/experiments", experiments),
    Route("/v1/sites/{site}/experiments/{name}", experiments),
]

FIGURES: Final[Schema] = obj(
    {
        "converted": {**COUNT, "description": "Distinct visitors who converted after exposure"},
        "rate": RATE,
        "difference": {**NUM_OR_NULL, "description": "rate - control's rate; null for control"},
        "uplift": {**NUM_OR_NULL, "description": "difference / control's rate"},
        "z": NUM_OR_NULL,
        "p_value": {**RATE, "description": "Two-sided two-proportion z-test against control"},
        "ci_low": {**NUM_OR_NULL, "description": "Confidence interval of the difference"},
        "ci_high": NUM_OR_NULL,
        "significant": {
            "type": "boolean",
            "description": "p_value < 1 - confidence and both arms have >= 30 visitors",
        },
    }
)
EXPERIMENT: Final[Schema] = obj(
    {
        "name": STR,
        "variants": {
            "type": "array",
            "items": obj(
                {
                    "variant": STR,
                    "control": {"type": "boolean"},
                    "exposed": {**COUNT, "description": "Distinct visitors exposed"},
                    "conversions": {"type": "object", "additionalProperties": FIGURES},
                }
            ),
        },
    }
)
SCHEMAS: Final[dict[str, Schema]] = {
    "Experiments": obj(
        {
            "site": STR,
            "confidence": {"type": "number"},
            "experiments": {"type": "array", "items": EXPERIMENT},
        }
    )
}
PARAMS: Final[list[Schema]] = [
    {"name": "confidence", "in": "query", "schema": {"enum": list(CONFIDENCES)}},
]
PATHS: Final[dict[str, Schema]] = {
    "/v1/sites/{site}/experiments": data_op(
        "Every experiment: per variant and micro-conversion, rate, uplift, p-value and interval",
        "Experiments",
        PARAMS,
    ),
    "/v1/sites/{site}/experiments/{name}": data_op(
        "One experiment (404 unknown_experiment when the config has no such experiment)",
        "Experiments",
        [{"name": "name", "in": "path", "required": True, "schema": STR}, *PARAMS],
    ),
}
