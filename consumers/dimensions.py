"""Breakdown values of one human event: page, source, UTM tags, device class, element, heat cell.

Each value is a hash field in a `bd:<dimension>` bucket (consumers.keys); docs/counters.md says
which event kinds feed which dimension. Values are cut to MAX_VALUE_LEN characters so one odd URL
cannot grow a field without bound.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Final
from urllib.parse import parse_qsl, urlsplit

from collector.records import Record, RecordRow
from collector.schema import PropValue
from consumers.keys import HEAT_GRID, Breakdown

MAX_VALUE_LEN: Final = 200
UTM_TAGS: Final = ("source", "medium", "campaign")
DEVICE_CLASSES: Final = frozenset({"mobile", "tablet", "desktop"})
MOBILE_MAX_WIDTH: Final = 767
TABLET_MAX_WIDTH: Final = 1024
# Pages and (kind, name, page, referrer) combinations whose values are remembered: bounded, and a
# hit skips URL parsing; a busy site repeats a few pages far more often than it adds new ones.
PAGE_CACHE: Final = 4096
FIXED_CACHE: Final = 8192

Pair = tuple[Breakdown, str]
# isinstance with a tuple: `int | float` builds a union object on every call, 2-4x slower, and
# these checks run for every click and pageview the worker applies.
_NUMBER: Final = (int, float)
# Event kinds with breakdowns that read props (props_breakdowns).
PROPS_KINDS: Final = frozenset({"pageview", "click"})


def _clip(value: str) -> str:
    return value[:MAX_VALUE_LEN]


def device_class(props: Mapping[str, PropValue]) -> str:
    """From the tag's `device` prop when it names a class, else from the viewport width `vw`."""
    named = props.get("device")
    if isinstance(named, str) and named in DEVICE_CLASSES:
        return named
    width = props.get("vw")
    if isinstance(width, _NUMBER) and not isinstance(width, bool) and width > 0:
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
    if not (isinstance(x, _NUMBER) and isinstance(y, _NUMBER)):
        return None
    if isinstance(x, bool) or isinstance(y, bool) or not (0 <= x <= 1000 and 0 <= y <= 1000):
        return None
    col = min(int(x * HEAT_GRID / 1000), HEAT_GRID - 1)
    row = min(int(y * HEAT_GRID / 1000), HEAT_GRID - 1)
    return f"{col},{row}"


@lru_cache(maxsize=PAGE_CACHE)
def page(url: str) -> tuple[str, str, tuple[str, ...]]:
    """(path cut to MAX_VALUE_LEN, host, "tag=value" of each UTM tag) of a page URL."""
    try:
        parts = urlsplit(url)
        path, host, query = parts.path or "/", parts.hostname or "", parts.query
    except ValueError:
        path, host, query = "/", "", ""
    utm: list[str] = []
    if "utm_" in query:
        for key, value in parse_qsl(query):
            tag = key.removeprefix("utm_")
            if key.startswith("utm_") and tag in UTM_TAGS and value:
                utm.append(_clip(f"{tag}={value}"))
    return _clip(path), host, tuple(utm)


@lru_cache(maxsize=FIXED_CACHE)
def fixed_breakdowns(kind: str, name: str, url: str, referrer: str) -> tuple[Pair, ...]:
    """The pairs that follow from an event's kind, name, page and referrer alone."""
    path, host, utm = page(url)
    if kind == "pageview":
        return (
            ("page", path),
            ("source", source(host, referrer)),
            *(("utm", u) for u in utm),
        )
    if kind == "download":
        return (("download", _clip(name or "(unnamed)")),)
    if kind == "click" and name:
        return (("click", _clip(name)),)
    if kind == "scroll" and name.isdigit():
        return (("scroll", f"{name}|{path}"),)
    return ()


def props_breakdowns(
    kind: str, name: str, url: str, props: Mapping[str, PropValue]
) -> tuple[Pair, ...]:
    """The pairs that need the event's props: a pageview's device, a click's element and cell."""
    if kind == "pageview":
        return (("device", device_class(props)),)
    if kind != "click":
        return ()
    pairs: list[Pair] = []
    if not name:
        element = props.get("el")
        if element:
            pairs.append(("click", _clip(str(element))))
    cell = heat_cell(props)
    if cell is not None:
        pairs.append(("heat", f"{cell}|{page(url)[0]}"))
    return tuple(pairs)


def breakdowns(record: Record | RecordRow) -> Iterator[Pair]:
    """(dimension, value) pairs a human event adds 1 to."""
    yield from fixed_breakdowns(record.kind, record.name, record.url, record.referrer)
    yield from props_breakdowns(record.kind, record.name, record.url, record.props)
