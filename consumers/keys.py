"""The Redis key layout, version 1. The only module that names keys, for writers and readers alike.

Every key of a site carries the site's hash tag `{site}`, so all keys one batch changes sit in one
Redis Cluster slot and can change together in one script. Site ids are restricted (snippet.sites)
to characters that cannot break out of the tag.

    mcv:v1:{site}:c:m:<minute>   hash  counter field -> count, per minute   (TTL 26 h)
    mcv:v1:{site}:c:h:<hour>     hash  counter field -> count, per hour     (TTL 35 d)
    mcv:v1:{site}:c:d:<day>      hash  counter field -> count, per day      (TTL 400 d)
    mcv:v1:{site}:wm             hash  "<topic>:<partition>" -> last applied offset
    mcv:v1:{site}:seen:<hour>    set   event ids seen in that hour of event time (dedupe)

Bucket numbers count minutes / hours / days since the Unix epoch (UTC).
"""

from __future__ import annotations

from typing import Final, Literal

PREFIX: Final = "mcv:v1"

Resolution = Literal["m", "h", "d"]
MINUTES: Final[dict[Resolution, int]] = {"m": 1, "h": 60, "d": 1440}
COARSEST_FIRST: Final[tuple[Resolution, ...]] = ("d", "h", "m")
TTL_S: Final[dict[Resolution, int]] = {"m": 26 * 3600, "h": 35 * 86400, "d": 400 * 86400}
# Event ids are remembered this long after their hour of event time: longer than the oldest
# event the collector accepts (24 h), so a retried event can never count twice.
SEEN_TTL_S: Final = 27 * 3600


def site_prefix(site: str) -> str:
    return f"{PREFIX}:{{{site}}}"


def counter_key(site: str, res: Resolution, bucket: int) -> str:
    return f"{site_prefix(site)}:c:{res}:{bucket}"


def watermark_key(site: str) -> str:
    return f"{site_prefix(site)}:wm"


def watermark_field(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


def seen_key(site: str, hour: int) -> str:
    return f"{site_prefix(site)}:seen:{hour}"


def counter_fields(kind: str, name: str) -> tuple[str, ...]:
    """Fields one event increments: its kind, and its kind with its name when it has one."""
    return (kind, f"{kind}:{name}") if name else (kind,)


def buckets_of(ts_ms: int) -> tuple[tuple[Resolution, int], ...]:
    minute = ts_ms // 60_000
    return (("m", minute), ("h", minute // 60), ("d", minute // 1440))


def cover(first_minute: int, last_minute: int) -> list[tuple[Resolution, int]]:
    """The fewest buckets that cover minutes first..last (inclusive) exactly.

    Whole days and hours inside the range are read from their own buckets; the ragged edges
    from minute buckets. Minute buckets live 26 h, so callers keep ranges that need minute
    precision within the last day (see consumers.store.window_range).
    """
    buckets: list[tuple[Resolution, int]] = []
    cursor = first_minute
    while cursor <= last_minute:
        for res in COARSEST_FIRST:
            size = MINUTES[res]
            if cursor % size == 0 and cursor + size - 1 <= last_minute:
                buckets.append((res, cursor // size))
                cursor += size
                break
    return buckets
