"""Breakdown values of one human event: page, source, UTM tags, device class, element, heat cell.

Each value is a hash field in a `bd:<dimension>` bucket (consumers.keys); docs/counters.md says
which event kinds feed which dimension. Values are cut to MAX_VALUE_LEN characters so one odd URL
cannot grow a field without bound.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Final
from urllib.parse import parse_qsl, urlsplit

from collector.schema import PropValue, Record
from consumers.keys import HEAT_GRID, Breakdown

MAX_VALUE_LEN: Final = 200
UTM_TAGS: Final = ("source", "medium", "campaign")
DEVICE_CLASSES: Final = frozenset({"mobile", "tablet", "desktop"})
MOBILE_MAX_WIDTH: Final = 767
TABLET_MAX_WIDTH: Final = 1024


def _clip(value: str) -> str:
    return value[:MAX_VALUE_LEN]


def device_class(props: Mapping[str, PropValue]) -> str:
    """From the tag's `device` prop when it names a class, else from the viewport width `vw`."""
    named = props.get("device")
    if isinstance(named, str) and named in DEVICE_CLASSES:
        return named
    width = props.get("vw")
    if isinstance(width, int | float) and not isinstance(width, bool) and width > 0:
        if width <= MOBILE_MAX_WIDTH:
            return "mobile"
        return "tablet" if width <= TABLET_MAX_WIDTH else "desktop"
    return "unknown"


def source(url_host: str, referrer: str) -> str:
    if not referrer:
        return "(direct)"
    try:
        host = (urlsplit(referrer).hostname or "").removeprefix("www.")
    except ValueError:
        return "(unknown)"
    if not host:
        return "(unknown)"
    return "(internal)" if host == url_host.removeprefix("www.") else _clip(host)


def heat_cell(props: Mapping[str, PropValue]) -> str | None:
    """Grid cell of a click at (x, y), which the tag sends in per mille (0-1000) of the page's
    width and of the document's height."""
    x, y = props.get("x"), props.get("y")
    if not (isinstance(x, int | float) and isinstance(y, int | float)):
        return None
    if isinstance(x, bool) or isinstance(y, bool) or not (0 <= x <= 1000 and 0 <= y <= 1000):
        return None
    col = min(int(x * HEAT_GRID / 1000), HEAT_GRID - 1)
    row = min(int(y * HEAT_GRID / 1000), HEAT_GRID - 1)
    return f"{col},{row}"


def breakdowns(record: Record) -> Iterator[tuple[Breakdown, str]]:
    """(dimension, value) pairs a human event adds 1 to."""
    try:
        url = urlsplit(record.url)
        path, host, query = url.path or "/", url.hostname or "", url.query
    except ValueError:
        path, host, query = "/", "", ""
    path = _clip(path)
    kind = record.kind
    if kind == "pageview":
        yield "page", path
        yield "source", source(host, record.referrer)
        yield "device", device_class(record.props)
        if "utm_" in query:
            for key, value in parse_qsl(query):
                tag = key.removeprefix("utm_")
                if key.startswith("utm_") and tag in UTM_TAGS and value:
                    yield "utm", _clip(f"{tag}={value}")
    elif kind == "download":
        yield "download", _clip(record.name or "(unnamed)")
    elif kind == "click":
        element = record.name or record.props.get("el")
        if element:
            yield "click", _clip(str(element))
        cell = heat_cell(record.props)
        if cell is not None:
            yield "heat", f"{cell}|{path}"
    elif kind == "scroll" and record.name.isdigit():
        yield "scroll", f"{record.name}|{path}"
