"""The Redis key layout, version 1. The only module that names keys, for writers and readers alike.

Every key of a site carries the site's hash tag `{site}`, so all keys one batch changes sit in one
Redis Cluster slot and can change together in one script. Site ids are restricted (snippet.sites)
to characters that cannot break out of the tag.

    mcv:v1:{site}:c:m:<minute>   hash  counter field -> count, per minute   (TTL 26 h)
    mcv:v1:{site}:c:h:<hour>     hash  counter field -> count, per hour     (TTL 35 d)
    mcv:v1:{site}:c:d:<day>      hash  counter field -> count, per day      (TTL 400 d)
    mcv:v1:{site}:wm             hash  "<topic>:<partition>" -> last applied offset
    mcv:v1:{site}:seen:<hour>    set   event ids seen in that hour of event time (dedupe)

Families added in layout v1 beside the counters (same <res>:<bucket> suffix and TTLs as `c`):

    ...:bot:<res>:<b>            hash  bots' events: kind and kind:name -> count
    ...:cv:<res>:<b>             hash  micro-conversion name -> count
    ...:u:<res>:<b>:<field>      HLL   unique visitors; field "*" (any event), a kind, "cv:<name>"
    ...:bd:<dim>:<res>:<b>       hash  breakdown value -> count (dims: see BREAKDOWNS)
    ...:fn:<funnel>:<res>:<b>    hash  step number (1-based) -> entries reaching it, bucketed by
                                       the minute the entry started
    ...:x:<exp>:<variant>:e      set   visitors exposed to the variant        (TTL: experiment)
    ...:x:<exp>:<variant>:c:<cv> set   exposed visitors who then converted    (TTL: experiment)
    ...:ls:<day>                 zset  visitor -> lead score earned that day   (TTL 35 d)
    ...:lr:<visitor>             list  "<ts ms>|<conversion>", newest first, capped (TTL 35 d)
    ...:v:<visitor>              hash  visitor state: "f:<funnel>" -> "<start ms>:<step>",
                                       "x:<exp>" -> variant                    (TTL 8 d)

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
    return family_key(site, "c", res, bucket)


def watermark_key(site: str) -> str:
    return f"{site_prefix(site)}:wm"


def watermark_field(topic: str, partition: int) -> str:
    return f"{topic}:{partition}"


def seen_key(site: str, hour: int) -> str:
    return f"{site_prefix(site)}:seen:{hour}"


Family = Literal["c", "bot", "cv"]
Breakdown = Literal["page", "source", "utm", "device", "download", "click", "scroll", "heat"]
BREAKDOWNS: Final[tuple[Breakdown, ...]] = (
    "page",  # pageviews by URL path
    "source",  # pageviews by referrer host, "(direct)" or "(internal)"
    "utm",  # pageviews by "source=<v>", "medium=<v>", "campaign=<v>" of the page URL
    "device",  # pageviews by device class: mobile, tablet, desktop, unknown
    "download",  # downloads by file name
    "click",  # clicks by data-mcv name or element descriptor
    "scroll",  # scroll milestones by "<depth>|<path>"
    "heat",  # clicks by "<column>,<row>|<path>" on a HEAT_GRID x HEAT_GRID grid
)
HEAT_GRID: Final = 20
LEAD_TTL_S: Final = 35 * 86400
LEAD_RECENT: Final = 20  # recent conversions kept per visitor
VISITOR_TTL_S: Final = 8 * 86400


def family_key(site: str, family: Family, res: Resolution, bucket: int) -> str:
    return f"{site_prefix(site)}:{family}:{res}:{bucket}"


def unique_key(site: str, field: str, res: Resolution, bucket: int) -> str:
    return f"{site_prefix(site)}:u:{res}:{bucket}:{field}"


def breakdown_key(site: str, dim: Breakdown, res: Resolution, bucket: int) -> str:
    return f"{site_prefix(site)}:bd:{dim}:{res}:{bucket}"


def funnel_key(site: str, funnel: str, res: Resolution, bucket: int) -> str:
    return f"{site_prefix(site)}:fn:{funnel}:{res}:{bucket}"


def exposed_key(site: str, experiment: str, variant: str) -> str:
    return f"{site_prefix(site)}:x:{experiment}:{variant}:e"


def converted_key(site: str, experiment: str, variant: str, conversion: str) -> str:
    return f"{site_prefix(site)}:x:{experiment}:{variant}:c:{conversion}"


def lead_key(site: str, day: int) -> str:
    return f"{site_prefix(site)}:ls:{day}"


def recent_key(site: str, visitor: str) -> str:
    return f"{site_prefix(site)}:lr:{visitor}"


def visitor_key(site: str, visitor: str) -> str:
    return f"{site_prefix(site)}:v:{visitor}"


def counter_fields(kind: str, name: str) -> tuple[str, ...]:
    """Fields one event increments: its kind, and its kind with its name when it has one."""
    return (kind, f"{kind}:{name}") if name else (kind,)


def buckets_of(ts_ms: int) -> tuple[tuple[Resolution, int], ...]:
    minute = ts_ms // 60_000
    return (("m", minute), ("h", minute // 60), ("d", minute // 1440))


def cover(
    first_minute: int, last_minute: int, now_minute: int | None = None
) -> list[tuple[Resolution, int]]:
    """The fewest buckets that cover minutes first..last (inclusive) exactly.

    Whole days and hours inside the range are read from their own buckets; the ragged edges
    from minute buckets. Minute buckets live 26 h, so callers keep ranges that need minute
    precision within the last day (see consumers.store.window_range).

    A range that reaches `now_minute` may be read on to the end of the current hour or day
    when that takes fewer buckets: no event is counted after now (the collector never dates
    an event later than its arrival), so the current hour's or day's bucket holds exactly the
    minutes up to now. A 30-day window then reads today from one bucket, not up to 23 hour and
    59 minute buckets.
    """
    if now_minute is None or last_minute < now_minute:
        return _exact_cover(first_minute, last_minute)
    ends = [(now_minute // MINUTES[res] + 1) * MINUTES[res] - 1 for res in ("h", "d")]
    return min(
        (_exact_cover(first_minute, end) for end in [last_minute, *ends] if end >= last_minute),
        key=len,
    )


def _exact_cover(first_minute: int, last_minute: int) -> list[tuple[Resolution, int]]:
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
