"""Counters in Redis: applying a batch exactly once, and reading windows back.

A site's share of one partition's batch (its writes built by consumers.writes) is applied by one
Lua script, atomically with the partition's watermark (last applied offset) for that site. The
script applies only on top of the watermark the writes were built for, so redelivery after a
crash, a rebalance or a Redis restart can never count twice; records above it are applied, so
nothing is lost. More reads live in consumers.reads.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript

from consumers.keys import (
    MINUTES,
    counter_key,
    cover,
    visitor_key,
    watermark_field,
    watermark_key,
)
from consumers.redisconn import AnyRedis, pipeline

# KEYS[1]: the site's watermark hash; KEYS[2..]: every other key the share touches.
# ARGV: watermark field, expected watermark (-1: none), new watermark, payload (JSON, see
# consumers.writes): ids per seen-set, then HINCRBY / PFADD / SADD / ZINCRBY / HSET / LPUSH
# groups and TTLs, each naming its key by index (PFADD groups: a list of keys, same members).
# Returns {0, n} once applied; {-1, watermark} when the watermark is not the expected one
# (another member got further, or Redis lost writes); {-2, {ids}} when event ids of the share
# were already seen (a client retry that another share applied): nothing is written then.
APPLY_LUA: Final = """
local wm = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
if wm ~= tonumber(ARGV[2]) then return {-1, wm} end
local p = cjson.decode(ARGV[4])
local dups = {}
for _, g in ipairs(p.ids) do
  local seen = redis.call('SMISMEMBER', KEYS[g[1]], unpack(g, 2))
  for i = 1, #seen do
    if seen[i] == 1 then dups[#dups + 1] = g[i + 1] end
  end
end
if #dups > 0 then return {-2, dups} end
for _, g in ipairs(p.ids) do redis.call('SADD', KEYS[g[1]], unpack(g, 2)) end
for _, g in ipairs(p.hi) do
  local k = KEYS[g[1]]
  for i = 2, #g, 2 do redis.call('HINCRBY', k, g[i], g[i + 1]) end
end
for _, g in ipairs(p.pf) do
  for _, k in ipairs(g[1]) do redis.call('PFADD', KEYS[k], unpack(g, 2)) end
end
for _, g in ipairs(p.sa) do redis.call('SADD', KEYS[g[1]], unpack(g, 2)) end
for _, g in ipairs(p.zi) do
  local k = KEYS[g[1]]
  for i = 2, #g, 2 do redis.call('ZINCRBY', k, g[i + 1], g[i]) end
end
for _, g in ipairs(p.hs) do redis.call('HSET', KEYS[g[1]], unpack(g, 2)) end
for _, g in ipairs(p.lp) do
  redis.call('LPUSH', KEYS[g[1]], unpack(g, 3))
  redis.call('LTRIM', KEYS[g[1]], 0, g[2] - 1)
end
for _, t in ipairs(p.tt) do redis.call('EXPIRE', KEYS[t[1]], t[2]) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return {0, 0}
"""

# KEYS[1]: the watermark hash; KEYS[2..]: visitor state hashes. ARGV: watermark field, then the
# state fields. Read in one script so the states are exactly those of the watermark returned.
READ_STATE_LUA: Final = """
local out = {redis.call('HGET', KEYS[1], ARGV[1]) or '-1'}
for i = 2, #KEYS do out[i] = redis.call('HMGET', KEYS[i], unpack(ARGV, 2)) end
return out
"""

# KEYS: hashes of one site (one slot). Returns field, sum, field, sum, ...: Redis sums a range's
# buckets itself, so a 30-day read costs the client one command instead of one HGETALL per
# bucket (and each command costs the client far more than it costs Redis). Lua numbers are
# doubles: sums are exact up to 2^53.
SUM_LUA: Final = """
local sums, order = {}, {}
for i = 1, #KEYS do
  local h = redis.call('HGETALL', KEYS[i])
  for j = 1, #h, 2 do
    local f = h[j]
    local s = sums[f]
    if s == nil then
      order[#order + 1] = f
      s = 0
    end
    sums[f] = s + tonumber(h[j + 1])
  end
end
local out = {}
for i, f in ipairs(order) do
  out[2 * i - 1] = f
  out[2 * i] = sums[f]
end
return out
"""

ApplyResult = tuple[int, int | list[str]]


@dataclass(frozen=True, slots=True)
class SiteBatch:
    """One script call: a site's share of one partition, expected to follow `expected`."""

    site: str
    partition: int
    expected: int
    last_offset: int
    keys: list[str]
    payload: bytes


class CounterStore:
    def __init__(self, redis: AnyRedis, topic: str) -> None:
        self._redis = redis
        self._topic = topic
        self._apply = redis.register_script(APPLY_LUA)
        self._read = redis.register_script(READ_STATE_LUA)
        self.round_trips = 0

    def _field(self, partition: int) -> str:
        return watermark_field(self._topic, partition)

    async def _scripts(self, script: AsyncScript, calls: list[tuple[list[str], list[Any]]]) -> Any:
        """Run script calls in one round trip: a pipeline on a single node; on a cluster (whose
        client refuses scripts in pipelines) concurrent calls, one per share, in parallel."""
        self.round_trips += 1
        if isinstance(self._redis, RedisCluster):
            return await asyncio.gather(*(script(keys=k, args=a) for k, a in calls))
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                await script(keys=keys, args=args, client=pipe)
            return await pipe.execute()

    async def apply(self, batches: Sequence[SiteBatch]) -> list[ApplyResult]:
        """Apply every batch in one round trip; per batch the script's answer."""
        results = await self._scripts(
            self._apply,
            [
                (
                    b.keys,
                    [
                        watermark_field(self._topic, b.partition),
                        b.expected,
                        b.last_offset,
                        b.payload,
                    ],
                )
                for b in batches
            ],
        )
        out: list[ApplyResult] = []
        for r in results:
            code = int(r[0])
            out.append((code, [_text(i) for i in r[1]] if code == -2 else int(r[1])))
        return out

    async def read_states(
        self, requests: Sequence[tuple[str, int, list[str]]], fields: dict[str, list[str]]
    ) -> list[tuple[int, dict[str, dict[str, str]]]]:
        """Per (site, partition, visitors): the watermark and each visitor's state fields."""
        results = await self._scripts(
            self._read,
            [
                (
                    [watermark_key(site), *[visitor_key(site, v) for v in visitors]],
                    [watermark_field(self._topic, partition), *fields[site]],
                )
                for site, partition, visitors in requests
            ],
        )
        out = []
        for (site, _, visitors), r in zip(requests, results, strict=True):
            states = {
                v: {f: _text(x) for f, x in zip(fields[site], row, strict=True) if x is not None}
                for v, row in zip(visitors, r[1:], strict=True)
            }
            out.append((int(r[0]), states))
        return out

    async def watermarks(self, sites: Iterable[str], partition: int) -> dict[str, int | None]:
        field = watermark_field(self._topic, partition)
        names = list(sites)
        async with pipeline(self._redis) as pipe:
            for site in names:
                pipe.hget(watermark_key(site), field)
            values = await pipe.execute()
        return {s: None if v is None else int(v) for s, v in zip(names, values, strict=True)}

    async def set_watermarks(
        self, marks: dict[str, int], partition: int, *, only_new: bool
    ) -> None:
        """Record offsets for sites that had nothing to apply up to them.

        Safe without a script: a site's earlier writes precede this one on its node, so a Redis
        that keeps this write kept those too.
        """
        field = watermark_field(self._topic, partition)
        async with pipeline(self._redis) as pipe:
            for site, offset in marks.items():
                if only_new:
                    pipe.hsetnx(watermark_key(site), field, offset)
                else:
                    pipe.hset(watermark_key(site), field, str(offset))
            await pipe.execute()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def parse_window(window: str) -> int:
    """'5m', '1h', '24h', '7d' -> minutes. Raises ValueError for anything else."""
    units = {"m": 1, "h": 60, "d": 1440}
    count = window[:-1]
    # isascii: str.isdigit also accepts other scripts' digits (fullwidth ones), which are no window.
    if len(window) < 2 or window[-1] not in units or not (count.isascii() and count.isdigit()):
        raise ValueError("a window is a number followed by m, h or d, e.g. 5m, 1h, 24h, 7d")
    minutes = int(count) * units[window[-1]]
    if not 1 <= minutes <= 400 * 1440:
        raise ValueError("a window is between 1m and 400d")
    return minutes


def window_range(minutes: int, now_ms: int) -> tuple[int, int]:
    """First and last minute of a rolling window that ends with the current minute.

    Up to 24 h the window is exact to the minute. Longer windows start on the hour (minute
    buckets expire after 26 h), and beyond 35 days on the day (hour buckets expire then).
    """
    last = now_ms // 60_000
    first = last - minutes + 1
    if minutes > 24 * 60:
        first = -(-first // MINUTES["h"]) * MINUTES["h"]
    if minutes > 35 * 1440:
        first = -(-first // MINUTES["d"]) * MINUTES["d"]
    return first, last


def now_minute() -> int:
    return int(time.time()) // 60


async def sum_hashes(redis: AnyRedis, keys: Sequence[str]) -> dict[str, int]:
    """Field -> sum over the hashes at `keys` (all of one site), summed by Redis in one call."""
    flat = await redis.register_script(SUM_LUA)(keys=list(keys))
    return {_text(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}


async def read_counters(
    redis: AnyRedis, site: str, first_minute: int, last_minute: int
) -> dict[str, int]:
    """Human events over the range: kind and kind:name -> count."""
    buckets = cover(first_minute, last_minute, now_minute())
    totals = await sum_hashes(redis, [counter_key(site, res, b) for res, b in buckets])
    return dict(sorted(totals.items()))
