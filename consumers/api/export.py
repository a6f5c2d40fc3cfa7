"""Answers in the format asked for: JSON by default, CSV with `?format=csv`.

Every data route builds its JSON body and the same data as one flat table; CSV is that table.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from consumers.api.params import format_of
from consumers.api.state import state_of

Cell = str | int | float | None


@dataclass(frozen=True, slots=True)
class Table:
    header: Sequence[str]
    rows: Sequence[Sequence[Cell]]


def _formula_safe(cell: Cell) -> Cell:
    # Names come from page markup: a leading = + - @ would run as a formula in a spreadsheet.
    if isinstance(cell, str) and cell[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + cell
    return cell


def to_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.header)
    writer.writerows([_formula_safe(c) for c in row] for row in table.rows)
    return out.getvalue()


def respond(request: Request, body: dict[str, Any], table: Table, name: str) -> Response:
    """`body` as JSON, or `table` as a CSV download named after the site and `name`."""
    fmt = format_of(request)
    state_of(request)["metrics"].answered += 1
    if fmt == "csv":
        filename = f"{request.path_params.get('site', 'microcv')}-{name}.csv"
        return Response(
            to_csv(table),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return JSONResponse(body)
