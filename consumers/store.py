"""Counters in Redis: applying a batch exactly once, and reading windows back.

A site's share of one partition's batch is applied by one Lua script, atomically with the
partition's watermark (last applied offset) for that site. A replay of offsets at or below the
watermark is refused by the script, so redelivery after a crash, a rebalance or a Redis restart
can never count twice; records above it are applied, so nothing is lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import orjson
from redis.asyncio import Redis

from collector.schema import Record
from consumers.keys import (
    MINUTES,
    SEEN_TTL_S,
    TTL_S,
    Resolution,
    buckets_of,
    counter_fields,
    counter_key,
    cover,
    seen_key,
    watermark_field,
    watermark_key,
)
from consumers.redisconn import AnyRedis, pipeline

# KEYS[1]: the site's watermark hash; KEYS[2..]: every other key the batch touches.
# ARGV: watermark field, first offset, last offset, payload (JSON):
#   e: [[event id, index of its seen-set key, group], ...]
#   g: [[key index, field, key index, field, ...], ...]  increments shared by a group of events
#   t: [[key index, ttl seconds], ...]
# Returns {applied, duplicates}, or {-1, watermark} when the batch starts at or below it.
APPLY_LUA: Final = """
local wm = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
if wm >= tonumber(ARGV[2]) then return {-1, wm} end
local p = cjson.decode(ARGV[4])
local counts = {}
local dups = 0
for _, e in ipairs(p.e) do
  if redis.call('SADD', KEYS[e[2]], e[1]) == 1 then
    counts[e[3]] = (counts[e[3]] or 0) + 1
  else
    dups = dups + 1
  end
end
for g, n in pairs(counts) do
  local incs = p.g[g]
  for i = 1, #incs, 2 do
    redis.call('HINCRBY', KEYS[incs[i]], incs[i + 1], n)
  end
end
for _, t in ipairs(p.t) do
  redis.call('EXPIRE', KEYS[t[1]], t[2])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return {#p.e - dups, dups}
"""


@dataclass(frozen=True, slots=True)
class SiteBatch:
    """A site's records from one partition, in offset order, ready for one script call."""

    site: str
    partition: int
    first_offset: int
    last_offset: int
    keys: list[str]
    payload: bytes


def build_site_batch(
    site: str, topic: str, partition: int, items: Sequence[tuple[int, Record]]
) -> SiteBatch:
    """Aggregate a site's records: events that bump the same counters share one group."""
    keys = [watermark_key(site)]
    key_index: dict[str, int] = {}
    ttls: list[list[int]] = []

    def index(key: str, ttl: int) -> int:
        i = key_index.get(key)
        if i is None:
            keys.append(key)
            i = key_index[key] = len(keys)  # Lua is 1-based and KEYS[1] is the watermark
            ttls.append([i, ttl])
        return i

    groups: dict[tuple[int | str, ...], int] = {}
    events: list[list[int | str]] = []
    for _, record in items:
        incs: list[int | str] = []
        fields = counter_fields(record.kind, record.name)
        for res, bucket in buckets_of(record.ts):
            k = index(counter_key(site, res, bucket), TTL_S[res])
            for field in fields:
                incs += (k, field)
        group = groups.setdefault(tuple(incs), len(groups) + 1)
        seen = index(seen_key(site, record.client_ts // 3_600_000), SEEN_TTL_S)
        events.append([record.id, seen, group])
    payload = orjson.dumps({"e": events, "g": list(groups), "t": ttls})
    return SiteBatch(
        site=site,
        partition=partition,
        first_offset=items[0][0],
        last_offset=items[-1][0],
        keys=keys,
        payload=payload,
    )


class CounterStore:
    def __init__(self, redis: Redis, topic: str) -> None:
        self._redis = redis
        self._topic = topic
        self._apply = redis.register_script(APPLY_LUA)

    async def apply(self, batches: Sequence[SiteBatch]) -> list[tuple[int, int]]:
        """Apply every batch in one round trip; per batch (applied, duplicates) or (-1, wm)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for b in batches:
                field = watermark_field(self._topic, b.partition)
                await self._apply(
                    keys=b.keys,
                    args=[field, b.first_offset, b.last_offset, b.payload],
                    client=pipe,
                )
            results = await pipe.execute()
        return [(int(r[0]), int(r[1])) for r in results]

    async def watermarks(self, sites: Iterable[str], partition: int) -> dict[str, int | None]:
        field = watermark_field(self._topic, partition)
        names = list(sites)
        async with self._redis.pipeline(transaction=False) as pipe:
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
        async with self._redis.pipeline(transaction=False) as pipe:
            for site, offset in marks.items():
                if only_new:
                    pipe.hsetnx(watermark_key(site), field, offset)
                else:
                    pipe.hset(watermark_key(site), field, str(offset))
            await pipe.execute()


def parse_window(window: str) -> int:
    """'5m', '1h', '24h', '7d' -> minutes. Raises ValueError for anything else."""
    units = {"m": 1, "h": 60, "d": 1440}
    if len(window) < 2 or window[-1] not in units or not window[:-1].isdigit():
        raise ValueError("a window is a number followed by m, h or d, e.g. 5m, 1h, 24h, 7d")
    minutes = int(window[:-1]) * units[window[-1]]
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


async def read_counters(
    redis: AnyRedis, site: str, first_minute: int, last_minute: int
) -> dict[str, int]:
    """Human events over the range: kind and kind:name -> count."""
    totals: dict[str, int] = {}
    async with pipeline(redis) as pipe:
        for res, bucket in cover(first_minute, last_minute):
            pipe.hgetall(counter_key(site, res, bucket))
        hashes = await pipe.execute()
    for h in hashes:
        for field, value in h.items():
            name = field.decode() if isinstance(field, bytes) else field
            totals[name] = totals.get(name, 0) + int(value)
    return dict(sorted(totals.items()))


async def read_series(
    redis: Redis, site: str, res: Resolution, first_bucket: int, last_bucket: int, names: list[str]
) -> list[list[int]]:
    """Per bucket first..last of resolution `res`, the count of each name (0 where absent)."""
    async with redis.pipeline(transaction=False) as pipe:
        for bucket in range(first_bucket, last_bucket + 1):
            pipe.hmget(counter_key(site, res, bucket), names)
        rows = await pipe.execute()
    return [[int(v) if v is not None else 0 for v in row] for row in rows]
