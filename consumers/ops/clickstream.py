"""Clickstream files for `microcv replay`: CSV with a header row, or JSON lines.

Columns (CSV header or JSON keys): site, kind, url are required (site may come from --site);
id, name, ts, referrer, pageview, props, ip, user_agent are optional. `ts` is milliseconds since
the epoch or an ISO 8601 time; `props` is a JSON object (text in CSV). A row without an id gets
one derived from the file name, line and content, so replaying the same file twice gives the same
ids and the consumers count each event once.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import orjson

from collector.schema import VERSION, SchemaError, parse_beacon

Format = Literal["csv", "jsonl"]

_EXTENSIONS: dict[str, Format] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class RowError(ValueError):
    """A row that cannot become an event; the message names the line."""


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    site: str
    event: dict[str, Any]  # in the wire schema's event shape
    ip: str
    user_agent: str

    @property
    def origin(self) -> str:
        # A browser sends its page's origin; the collector checks it against the site's domains.
        scheme, _, rest = str(self.event["u"]).partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}" if rest else ""


def detect_format(path: Path) -> Format:
    fmt = _EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise RowError(f"{path}: cannot tell the format from the extension; pass --format")
    return fmt


def _ts(value: Any, line: int) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return int(text)
        try:
            return int(datetime.fromisoformat(text).timestamp() * 1000)
        except ValueError:
            pass
    raise RowError(f"line {line}: ts {value!r} is neither milliseconds nor an ISO 8601 time")


def _props(value: Any, line: int) -> dict[str, Any]:
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise RowError(f"line {line}: props is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise RowError(f"line {line}: props must be a JSON object")
    return value


def to_row(
    fields: Mapping[str, Any], line: int, source: str, default_site: str | None, now_ms: int
) -> Row:
    site = fields.get("site") or default_site
    if not site:
        raise RowError(f"line {line}: no site (add a site column or pass --site)")
    event: dict[str, Any] = {
        "i": fields.get("id")
        or hashlib.sha256(f"{source}\0{line}\0{list(fields.items())}".encode()).hexdigest()[:32],
        "k": fields.get("kind"),
        "u": fields.get("url"),
        "ts": _ts(fields.get("ts"), line) or now_ms,
    }
    for column, key in (("name", "n"), ("referrer", "r"), ("pageview", "pv")):
        if fields.get(column):
            event[key] = fields[column]
    if props := _props(fields.get("props"), line):
        event["p"] = props
    # Checked here by the wire schema's own parser, so a bad row is reported with its line.
    try:
        beacon = parse_beacon(orjson.dumps({"v": VERSION, "s": site, "e": [event]}))
    except SchemaError as exc:
        raise RowError(f"line {line}: {exc}") from None
    for _, reason in beacon.rejected:
        raise RowError(f"line {line}: {reason}")
    return Row(
        line, str(site), event, str(fields.get("ip") or ""), str(fields.get("user_agent") or "")
    )


def _records(path: Path, fmt: Format) -> Iterator[tuple[int, Mapping[str, Any] | RowError]]:
    with path.open(encoding="utf-8", newline="") as f:
        if fmt == "csv":
            reader = csv.DictReader(f)
            for record in reader:
                yield reader.line_num, record
            return
        for number, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                record = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                yield number, RowError(f"line {number}: not JSON: {exc}")
                continue
            if not isinstance(record, dict):
                yield number, RowError(f"line {number}: not a JSON object")
                continue
            yield number, record


def read_rows(
    path: Path, fmt: Format, default_site: str | None, now_ms: int
) -> Iterator[Row | RowError]:
    """Every row of the file as an event, or the error that stops it from being one."""
    for line, record in _records(path, fmt):
        if isinstance(record, RowError):
            yield record
            continue
        try:
            yield to_row(record, line, path.name, default_site, now_ms)
        except RowError as exc:
            yield exc


def count_rows(path: Path, fmt: Format) -> int:
    return sum(1 for _ in _records(path, fmt))
