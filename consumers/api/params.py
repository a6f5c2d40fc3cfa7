"""Query parameters shared by the routes: the time span, the resolution, names, the format.

A span is either a rolling `window` (5m, 1h, 24h, 7d …) ending with the current minute, or a
custom range `from`/`to` in milliseconds since the epoch (`to` exclusive, default now). Counters
are kept per minute for 26 h, per hour for 35 d and per day for 400 d, so a span's edges are moved
inwards to what is still kept at their age, and the answer says which span was really read.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, Protocol, TypeVar, cast, get_args

from starlette.requests import Request

from consumers.api.errors import ApiError
from consumers.keys import MINUTES, Resolution
from consumers.reads import custom_range, parse_window, window_range

Format = Literal["json", "csv"]

DEFAULT_WINDOW: Final = "24h"
MAX_SPAN_MIN: Final = 400 * 1440  # day buckets live 400 days
# How far back each resolution's buckets are kept (a little less than their TTL, keys.TTL_S).
RETENTION_MIN: Final[dict[Resolution, int]] = {"m": 24 * 60, "h": 35 * 1440, "d": 400 * 1440}
MAX_POINTS: Final = 1000
MAX_NAMES: Final = 20
MAX_NAME_LEN: Final = 120


@dataclass(frozen=True, slots=True)
class Span:
    first: int  # first minute, inclusive
    last: int  # last minute, inclusive
    window: str | None  # the rolling window asked for, or None for a custom range

    @property
    def from_ms(self) -> int:
        return self.first * 60_000

    @property
    def to_ms(self) -> int:
        return (self.last + 1) * 60_000


def now_minute() -> int:
    return int(time.time() * 1000) // 60_000


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not raw.lstrip("-").isdigit() or len(raw) > 16:
        raise ApiError(400, f"bad_{name}", f"{name} is milliseconds since the epoch")
    return int(raw)


def span_of(request: Request) -> Span:
    window = request.query_params.get("window")
    start, end = _int_param(request, "from"), _int_param(request, "to")
    now = now_minute()
    if start is None:
        if end is not None:
            raise ApiError(400, "bad_range", "`to` needs `from`")
        # Only a missing `window` means the default: `window=` is a mistake worth telling.
        window = DEFAULT_WINDOW if window is None else window
        try:
            first, last = window_range(parse_window(window), now * 60_000)
        except ValueError as exc:
            raise ApiError(400, "bad_window", str(exc)) from None
        return Span(first, last, window)
    if window is not None:
        raise ApiError(400, "bad_range", "give either `window` or `from`/`to`, not both")
    end = (now + 1) * 60_000 if end is None else end
    if now - start // 60_000 > MAX_SPAN_MIN:
        raise ApiError(400, "too_old", "counters are kept for 400 days")
    try:
        first, last = custom_range(start, end, now * 60_000)
    except ValueError as exc:
        raise ApiError(400, "bad_range", str(exc)) from None
    return Span(first, last, None)


def resolution_of(request: Request, span: Span) -> Resolution:
    """The asked resolution, or the finest one that is kept and fits in MAX_POINTS."""
    raw = request.query_params.get("resolution")
    age = now_minute() - span.first
    if raw is None:
        for res in get_args(Resolution):
            size = MINUTES[res]
            if age <= RETENTION_MIN[res] and (span.last - span.first) // size + 1 <= MAX_POINTS:
                return cast(Resolution, res)
        return "d"
    if raw not in get_args(Resolution):
        raise ApiError(400, "bad_resolution", "resolution is m, h or d")
    res = cast(Resolution, raw)
    if age > RETENTION_MIN[res]:
        raise ApiError(400, "bad_resolution", f"{res} buckets are kept {RETENTION_MIN[res]} min")
    if span.last // MINUTES[res] - span.first // MINUTES[res] + 1 > MAX_POINTS:
        raise ApiError(400, "too_many_points", f"at most {MAX_POINTS} points; pick a coarser one")
    return res


def names_of(request: Request, *, required: bool) -> list[str]:
    raw = request.query_params.get("names", "")
    names = [n for n in raw.split(",") if n]
    if required and not names:
        raise ApiError(400, "missing_names", "names is a comma-separated list of counters")
    if len(names) > MAX_NAMES:
        raise ApiError(400, "too_many_names", f"at most {MAX_NAMES} names")
    if any(len(n) > MAX_NAME_LEN for n in names):
        raise ApiError(400, "long_name", f"a name is at most {MAX_NAME_LEN} characters")
    return list(dict.fromkeys(names))


def format_of(request: Request) -> Format:
    raw = request.query_params.get("format", "json")
    if raw not in get_args(Format):
        raise ApiError(400, "bad_format", "format is json or csv")
    return cast(Format, raw)


class Named(Protocol):
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=Named)


def named(request: Request, items: Sequence[N], what: str) -> list[N]:
    """All of a site's funnels (experiments), or the one named in the path; 404 if none is."""
    wanted = request.path_params.get("name")
    if wanted is None:
        return list(items)
    found = [item for item in items if item.name == wanted]
    if not found:
        raise ApiError(404, f"unknown_{what}", f"no {what} with this name in the site's config")
    return found


def limit_of(request: Request, default: int = 10, maximum: int = 100) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise ApiError(400, "bad_limit", f"limit is 1..{maximum}")
    return int(raw)
