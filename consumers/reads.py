"""Every read of the counters, for the query API: one typed async function per question.

Ranges are inclusive minute numbers (minutes since the epoch, UTC), as `window_range` and
`custom_range` return them; a range is read from the fewest minute/hour/day buckets that cover it
(consumers.keys.cover). Each function makes one round trip (a pipeline, or one script that sums
the range's hashes inside Redis: consumers.store.sum_hashes), whatever the range.
Rates, uplift and significance are the API's business: these functions return counts.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from redis.asyncio.cluster import RedisCluster

from collector.schema import KINDS
from consumers.config import Experiment, Funnel, SiteConfig
from consumers.keys import (
    HEAT_GRID,
    LEAD_TTL_S,
    MINUTES,
    Breakdown,
    Family,
    Resolution,
    breakdown_key,
    converted_key,
    cover,
    exposed_key,
    family_key,
    funnel_key,
    lead_key,
    recent_key,
    unique_key,
)
from consumers.redisconn import AnyRedis, pipeline
from consumers.store import now_minute, parse_window, read_counters, sum_hashes, window_range

__all__ = [
    "Breakdown",
    "ConversionCount",
    "ExperimentReport",
    "FunnelReport",
    "FunnelStep",
    "Heatmap",
    "Lead",
    "Series",
    "Summary",
    "VariantReport",
    "bot_counters",
    "breakdown",
    "conversions",
    "counters",
    "custom_range",
    "experiment",
    "funnel",
    "heatmap",
    "parse_window",
    "scroll_depths",
    "series",
    "summary",
    "top_leads",
    "uniques",
    "window",
    "window_range",
]

counters = read_counters  # human events: kind and kind:name -> count (the original family)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def custom_range(from_ms: int, to_ms: int, now_ms: int) -> tuple[int, int]:
    """First and last minute of [from_ms, to_ms), shrunk to what the buckets still hold.

    Minute buckets live 26 h: an edge older than 24 h is moved inward to a whole hour; hour
    buckets live 35 days: an edge older than that is moved inward to a whole day. Raises
    ValueError for an empty or inverted range. Callers report the range they got back.
    """
    if to_ms <= from_ms:
        raise ValueError("'to' must be after 'from'")
    first, last = from_ms // 60_000, (to_ms - 1) // 60_000
    now_minute = now_ms // 60_000
    last = min(last, now_minute)
    edges: tuple[tuple[Resolution, int], ...] = (("h", 24 * 60), ("d", 35 * 1440))
    for res, age in edges:
        size = MINUTES[res]
        if first < now_minute - age:
            first = -(-first // size) * size
        if last < now_minute - age:
            last = (last + 1) // size * size - 1
    if last < first:
        raise ValueError("the range is shorter than the resolution kept for its age")
    return first, last


async def _family(
    redis: AnyRedis, site: str, family: Family, first: int, last: int
) -> dict[str, int]:
    keys = [family_key(site, family, res, b) for res, b in cover(first, last, now_minute())]
    return dict(sorted((await sum_hashes(redis, keys)).items()))


async def bot_counters(redis: AnyRedis, site: str, first: int, last: int) -> dict[str, int]:
    """Bots' events (kind and kind:name -> count); they are in no other family."""
    return await _family(redis, site, "bot", first, last)


async def conversions(redis: AnyRedis, site: str, first: int, last: int) -> dict[str, int]:
    """Micro-conversion name -> count of matching human events."""
    return await _family(redis, site, "cv", first, last)


async def uniques(
    redis: AnyRedis, site: str, fields: Sequence[str], first: int, last: int
) -> dict[str, int]:
    """Unique visitors (HyperLogLog, ~0.8 % standard error) per field over the range.

    Fields: "*" (visitors with any human event), an event kind ("pageview"), or "cv:<name>"
    for a micro-conversion.
    """
    buckets = cover(first, last, now_minute())
    keys = [[unique_key(site, f, res, b) for res, b in buckets] for f in fields]
    counts: list[int]
    if isinstance(redis, RedisCluster):
        # The cluster client refuses multi-key PFCOUNT in a pipeline; the calls run together.
        counts = await asyncio.gather(*(redis.pfcount(*k) for k in keys))
    else:
        async with redis.pipeline(transaction=False) as pipe:
            for k in keys:
                pipe.pfcount(*k)
            counts = await pipe.execute()
    return {f: int(n) for f, n in zip(fields, counts, strict=True)}


@dataclass(frozen=True, slots=True)
class ConversionCount:
    count: int
    visitors: int


@dataclass(frozen=True, slots=True)
class Summary:
    """Counts and unique visitors per event kind and per configured micro-conversion."""

    visitors: int
    kinds: dict[str, ConversionCount]
    conversions: dict[str, ConversionCount]
    counters: dict[str, int]  # as read_counters gives them


async def summary(redis: AnyRedis, config: SiteConfig, first: int, last: int) -> Summary:
    site = config.site
    counts, cv_counts = await asyncio.gather(
        read_counters(redis, site, first, last), conversions(redis, site, first, last)
    )
    kinds = [k for k in sorted(KINDS) if counts.get(k)]
    names = [c.name for c in config.conversions]
    fields = ["*", *kinds, *[f"cv:{n}" for n in names]]
    visitors = await uniques(redis, site, fields, first, last)
    return Summary(
        visitors=visitors["*"],
        kinds={k: ConversionCount(counts[k], visitors[k]) for k in kinds},
        conversions={n: ConversionCount(cv_counts.get(n, 0), visitors[f"cv:{n}"]) for n in names},
        counters=counts,
    )


@dataclass(frozen=True, slots=True)
class Series:
    """Counts per bucket: `starts[i]` (ms) is the start of the bucket `values[field][i]` counts."""

    resolution: Resolution
    starts: list[int]
    values: dict[str, list[int]]


async def series(
    redis: AnyRedis,
    site: str,
    family: Family,
    fields: Sequence[str],
    first: int,
    last: int,
    resolution: Resolution,
) -> Series:
    """Time series of `fields` of a family ("c" counters, "cv" conversions, "bot") per bucket.

    The range is widened to whole buckets of `resolution`; at most 1500 buckets (ValueError).
    Minute buckets hold the last 26 h, hour buckets 35 days, day buckets 400 days: older
    buckets read as 0.
    """
    size = MINUTES[resolution]
    buckets = list(range(first // size, last // size + 1))
    if len(buckets) > 1500:
        raise ValueError("at most 1500 points: choose a coarser resolution")
    async with pipeline(redis) as pipe:
        for b in buckets:
            pipe.hmget(family_key(site, family, resolution, b), list(fields))
        rows = await pipe.execute()
    values = {f: [int(row[i] or 0) for row in rows] for i, f in enumerate(fields)}
    return Series(resolution, [b * size * 60_000 for b in buckets], values)


@dataclass(frozen=True, slots=True)
class FunnelStep:
    name: str  # the step's conversion, or its alternatives joined by " | "
    entries: int  # funnel entries that reached this step


@dataclass(frozen=True, slots=True)
class FunnelReport:
    """Entries that started in the range and how far they got (steps never grow down the list).

    Rates: steps[i].entries / steps[i - 1].entries; overall: steps[-1] / steps[0].
    """

    name: str
    window_ms: int
    steps: list[FunnelStep]


async def funnel(redis: AnyRedis, site: str, spec: Funnel, first: int, last: int) -> FunnelReport:
    keys = [funnel_key(site, spec.name, res, b) for res, b in cover(first, last, now_minute())]
    totals = await sum_hashes(redis, keys)
    names = spec.step_names()
    steps = [FunnelStep(names[i], totals.get(str(i + 1), 0)) for i in range(len(spec.steps))]
    return FunnelReport(spec.name, spec.window_ms, steps)


@dataclass(frozen=True, slots=True)
class VariantReport:
    variant: str
    exposed: int  # distinct visitors exposed (exact)
    converted: dict[str, int] = field(default_factory=dict)  # conversion -> distinct visitors


@dataclass(frozen=True, slots=True)
class ExperimentReport:
    """Since the experiment's data started (kept `days` after the last event); exact counts.

    The first variant is the control.
    """

    name: str
    variants: list[VariantReport]


async def experiment(redis: AnyRedis, site: str, spec: Experiment) -> ExperimentReport:
    async with pipeline(redis) as pipe:
        for v in spec.variants:
            pipe.scard(exposed_key(site, spec.name, v))
            for c in spec.conversions:
                pipe.scard(converted_key(site, spec.name, v, c))
        results = iter(await pipe.execute())
    variants = []
    for v in spec.variants:
        exposed = int(next(results))
        converted = {c: int(next(results)) for c in spec.conversions}
        variants.append(VariantReport(v, exposed, converted))
    return ExperimentReport(spec.name, variants)


async def breakdown(
    redis: AnyRedis, site: str, dim: Breakdown, first: int, last: int, limit: int = 20
) -> list[tuple[str, int]]:
    """The top `limit` values of a breakdown, most frequent first (ties by value)."""
    keys = [breakdown_key(site, dim, res, b) for res, b in cover(first, last, now_minute())]
    totals = await sum_hashes(redis, keys)
    return sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


async def scroll_depths(
    redis: AnyRedis, site: str, first: int, last: int, path: str | None = None
) -> dict[str, dict[int, int]]:
    """Page path -> {milestone %: scroll events reaching it}; one page when `path` is given."""
    keys = [breakdown_key(site, "scroll", res, b) for res, b in cover(first, last, now_minute())]
    pages: dict[str, dict[int, int]] = defaultdict(dict)
    for f, n in (await sum_hashes(redis, keys)).items():
        depth, _, page = f.partition("|")
        if (path is None or page == path) and depth.isdigit():
            pages[page][int(depth)] = n
    return {p: dict(sorted(d.items())) for p, d in sorted(pages.items())}


@dataclass(frozen=True, slots=True)
class Heatmap:
    """Clicks per cell of a `grid` x `grid` map: cells[row][column], row 0 at the page top."""

    path: str
    grid: int
    cells: list[list[int]]
    total: int


async def heatmap(redis: AnyRedis, site: str, path: str, first: int, last: int) -> Heatmap:
    keys = [breakdown_key(site, "heat", res, b) for res, b in cover(first, last, now_minute())]
    cells = [[0] * HEAT_GRID for _ in range(HEAT_GRID)]
    total = 0
    for f, n in (await sum_hashes(redis, keys)).items():
        cell, _, page = f.partition("|")
        if page != path:
            continue
        col, _, row = cell.partition(",")
        cells[int(row)][int(col)] += n
        total += n
    return Heatmap(path, HEAT_GRID, cells, total)


@dataclass(frozen=True, slots=True)
class Lead:
    visitor: str
    score: int
    recent: list[tuple[int, str]]  # (event time ms, conversion), newest first


async def top_leads(
    redis: AnyRedis, site: str, first_day: int, last_day: int, limit: int = 20
) -> list[Lead]:
    """Visitors with the highest lead score earned in days first_day..last_day (days since the
    epoch, at most 35 back), with their most recent micro-conversions."""
    totals: dict[str, float] = defaultdict(float)
    async with pipeline(redis) as pipe:
        for day in range(max(first_day, last_day - LEAD_TTL_S // 86400), last_day + 1):
            pipe.zrange(lead_key(site, day), 0, -1, withscores=True)
        days = await pipe.execute()
    for entries in days:
        for member, score in entries:
            totals[_text(member)] += score
    top = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    async with pipeline(redis) as pipe:
        for visitor, _ in top:
            pipe.lrange(recent_key(site, visitor), 0, -1)
        lists = await pipe.execute()
    leads = []
    for (visitor, score), items in zip(top, lists, strict=True):
        recent = []
        for item in items:
            ts, _, name = _text(item).partition("|")
            recent.append((int(ts), name))
        leads.append(Lead(visitor, round(score), recent))
    return leads


def window(spec: str, now_ms: int) -> tuple[int, int]:
    """'5m', '1h', '24h', '7d', '30d' -> (first, last) minute; ValueError when malformed."""
    return window_range(parse_window(spec), now_ms)
