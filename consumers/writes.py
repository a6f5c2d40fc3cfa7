"""From a site's share of a batch to the Redis writes it produces, aggregated in memory.

`prepare` makes one pass over the share's events and sums them by what decides their writes
(minute, kind, name, page, referrer, the few props a breakdown reads); `build` turns each sum into
its counters, breakdowns and keys once, so per-event work is a few dict operations and one script
call per share carries every write. URL parsing and rule matching are remembered across batches
(consumers.dimensions, consumers.config). Funnels and experiments need
each visitor's state before the share (read by the store beside the watermark, atomically); the
share's events are then replayed over it in offset order, which is the visitor's event order
because a visitor's events share a partition (collector.records.record_key).

Rules (docs/counters.md): bots count only in the `bot` family; a funnel entry starts with a step-1
event, advances only to the next step within its window (skips and repeats do nothing), and is
counted in the bucket of the minute it started; a visitor keeps the first variant it was exposed
to and converts in an experiment only after exposure; lead scores add a conversion's weight each
time it happens.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import orjson

from collector.records import EventRow, Record
from consumers.config import Candidate, SiteConfig, props_match
from consumers.dimensions import PROPS_KINDS, Pair, fixed_breakdowns, props_breakdowns
from consumers.keys import (
    BREAKDOWNS,
    LEAD_RECENT,
    LEAD_TTL_S,
    SEEN_TTL_S,
    TTL_S,
    VISITOR_TTL_S,
    Resolution,
    breakdown_key,
    converted_key,
    counter_fields,
    exposed_key,
    family_key,
    funnel_key,
    lead_key,
    recent_key,
    seen_key,
    unique_key,
    visitor_key,
    watermark_key,
)

RESOLUTIONS: Final[tuple[tuple[Resolution, int], ...]] = (("m", 1), ("h", 60), ("d", 1440))
CHUNK: Final = 1000  # members per command: Lua's unpack() has a stack limit near 8000
_BD: Final = {dim: f"bd:{dim}" for dim in BREAKDOWNS}

# (minute, kind, name, url, referrer, breakdowns from props) -> human events
HumanKey = tuple[int, str, str, str, str, tuple[Pair, ...]]
PerMinute = Counter[tuple[str, int, str]]  # (family, minute, field) -> n


@dataclass(slots=True)
class Prepared:
    """A share after one pass over its events: sums of what they write, and what needs state."""

    site: str
    partition: int
    first_offset: int
    last_offset: int
    applied: int  # distinct events
    duplicates: int  # events dropped: ids repeated inside the share or already seen
    bots: int
    ids: dict[int, list[str]]  # hour of client time -> event ids (the dedupe sets)
    human: dict[HumanKey, int]
    bot: dict[tuple[int, str, str], int]  # (minute, kind, name) -> bots' events
    conversions: dict[tuple[int, str], int]  # (minute, conversion) -> events
    visitors: dict[tuple[str, int], set[str]]  # (kind, minute) -> visitors
    converters: dict[tuple[str, int], set[str]]  # ("cv:<name>", minute) -> visitors
    # Human events with conversions or an experiment exposure, in offset order, with their
    # conversions: all that lead scores, funnels and experiments look at.
    notable: list[tuple[Record, tuple[str, ...]]]
    stateful: set[str]  # visitors whose funnel/experiment state the share needs


@dataclass(slots=True)
class Payload:
    keys: list[str]
    payload: bytes
    applied: int


@dataclass(slots=True)
class _Writes:
    keys: list[str]
    index: dict[str, int] = field(default_factory=dict)
    ttl: dict[int, int] = field(default_factory=dict)
    hincr: dict[int, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    # (keys, visitors): a minute's visitors go to its minute, hour and day HyperLogLogs, sent
    # once for the three keys (they were most of the script's payload).
    pfadd: list[tuple[list[int], set[str]]] = field(default_factory=list)
    sadd: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    zincr: dict[int, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    hset: dict[int, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    lpush: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    ids: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))

    def key(self, name: str, ttl: int) -> int:
        i = self.index.get(name)
        if i is None:
            self.keys.append(name)
            i = self.index[name] = len(self.keys)  # Lua is 1-based; KEYS[1] is the watermark
        self.ttl[i] = max(ttl, self.ttl.get(i, 0))
        return i

    def encode(self) -> bytes:
        def chunks(items: Mapping[int, Iterable[str]]) -> list[list[int | str]]:
            out: list[list[int | str]] = []
            for k, members in items.items():
                ms = list(members)  # order is irrelevant to SADD / PFADD: no sort
                out += [[k, *ms[i : i + CHUNK]] for i in range(0, len(ms), CHUNK)]
            return out

        def pairs(items: Mapping[int, Mapping[str, int | str]]) -> list[list[int | str]]:
            out: list[list[int | str]] = []
            for k, fields in items.items():
                flat = [x for kv in fields.items() for x in kv]
                out += [[k, *flat[i : i + 2 * CHUNK]] for i in range(0, len(flat), 2 * CHUNK)]
            return out

        return orjson.dumps(
            {
                "ids": chunks(self.ids),
                "hi": pairs(self.hincr),
                "pf": [
                    [keys, *ms[i : i + CHUNK]]
                    for keys, members in self.pfadd
                    for ms in (list(members),)
                    for i in range(0, len(ms), CHUNK)
                ],
                "sa": chunks(self.sadd),
                "zi": pairs(self.zincr),
                "hs": pairs(self.hset),
                "lp": [[k, LEAD_RECENT, *v[-LEAD_RECENT:]] for k, v in self.lpush.items()],
                "tt": [[k, t] for k, t in self.ttl.items()],
            }
        )


def state_fields(config: SiteConfig) -> list[str]:
    """The fields of a visitor's state hash that funnels and experiments use."""
    return [f"f:{f.name}" for f in config.funnels] + [f"x:{e.name}" for e in config.experiments]


def prepare(
    config: SiteConfig,
    partition: int,
    offsets: Sequence[int],
    batches: Sequence[tuple[str, Sequence[EventRow]]],
    skip: set[str],
) -> Prepared:
    """One pass over a share (`batches`: each record's visitor and events, at `offsets`, in
    offset order): drop repeated ids (and `skip`: ids Redis has seen), sum the events by what
    decides their writes, match conversions, and note which visitors need their state read."""
    seen: set[str] = set(skip)
    site = config.site
    p = Prepared(
        site=site,
        partition=partition,
        first_offset=offsets[0],
        last_offset=offsets[-1],
        applied=0,
        duplicates=0,
        bots=0,
        ids={},
        human={},
        bot={},
        conversions={},
        visitors={},
        converters={},
        notable=[],
        stateful=set(),
    )
    ids, human, bot, visitors = p.ids, p.human, p.bot, p.visitors
    rules = config.candidates if config.conversions or config.experiments else None
    total = 0
    for visitor, events in batches:
        total += len(events)
        for e in events:
            # The event's array as decoded (collector.records.EventRow): no object per event.
            rid, kind, name, ts, client_ts, _, url, referrer, _, props, is_bot = e
            if rid in seen:
                continue
            seen.add(rid)
            hour = client_ts // 3_600_000
            hour_ids = ids.get(hour)
            if hour_ids is None:
                ids[hour] = [rid]
            else:
                hour_ids.append(rid)
            minute = ts // 60_000
            if is_bot:
                p.bots += 1
                bk = (minute, kind, name)
                bot[bk] = bot.get(bk, 0) + 1
                continue
            extra = props_breakdowns(kind, name, url, props) if kind in PROPS_KINDS else ()
            hk = (minute, kind, name, url, referrer, extra)
            human[hk] = human.get(hk, 0) + 1
            vk = (kind, minute)
            vs = visitors.get(vk)
            if vs is None:
                visitors[vk] = {visitor}
            else:
                vs.add(visitor)
            if rules is not None:
                candidates = rules(kind, name, url)
                if candidates or kind == "variant":
                    _convert(config, p, Record(site, visitor, *e), minute, candidates)
    p.applied = len(seen) - len(skip)
    p.duplicates = total - p.applied
    return p


def _convert(
    config: SiteConfig,
    p: Prepared,
    r: Record,
    minute: int,
    candidates: Sequence[Candidate],
) -> None:
    """A human event's conversions, and whether its visitor's state is needed."""
    cvs = tuple(c for c, need in candidates if not need or props_match(r.props, need))
    exposure = r.kind == "variant" and config.experiment(r.name) is not None
    if not cvs and not exposure:
        return
    p.notable.append((r, cvs))
    for c in cvs:
        ck = (minute, c)
        p.conversions[ck] = p.conversions.get(ck, 0) + 1
        p.converters.setdefault((f"cv:{c}", minute), set()).add(r.visitor)
    if (
        exposure
        or any(c in step for c in cvs for f in config.funnels for step in f.steps)
        or any(c in e.conversions for c in cvs for e in config.experiments)
    ):
        p.stateful.add(r.visitor)


def build(config: SiteConfig, prep: Prepared, states: Mapping[str, Mapping[str, str]]) -> Payload:
    """Every write of the share, summed per key and field; `states` maps each visitor in
    `prep.stateful` to its state hash before the share."""
    site = config.site
    w = _Writes(keys=[watermark_key(site)])
    for hour, hour_ids in prep.ids.items():
        w.ids[w.key(seen_key(site, hour), SEEN_TTL_S)] += hour_ids
    per_minute: PerMinute = Counter()
    for (minute, kind, name, url, referrer, extra), n in prep.human.items():
        for f in counter_fields(kind, name):
            per_minute["c", minute, f] += n
        for dim, value in fixed_breakdowns(kind, name, url, referrer):
            per_minute[_BD[dim], minute, value] += n
        for dim, value in extra:
            per_minute[_BD[dim], minute, value] += n
    for (minute, kind, name), n in prep.bot.items():
        for f in counter_fields(kind, name):
            per_minute["bot", minute, f] += n
    for (minute, c), n in prep.conversions.items():
        per_minute["cv", minute, c] += n
    everyone: dict[tuple[str, int], set[str]] = {}
    for (_, minute), vs in prep.visitors.items():
        everyone.setdefault(("*", minute), set()).update(vs)
    for r, cvs in prep.notable:
        _score(config, w, r, cvs)
    _bucketed(site, w, per_minute, (everyone, prep.visitors, prep.converters))
    _visitor_state(config, w, prep, states)
    return Payload(keys=w.keys, payload=w.encode(), applied=prep.applied)


def _family_key(site: str, family: str, res: Resolution, bucket: int) -> str:
    if family.startswith("bd:"):
        return breakdown_key(site, family[3:], res, bucket)  # type: ignore[arg-type]
    if family.startswith("fn:"):
        return funnel_key(site, family[3:], res, bucket)
    return family_key(site, family, res, bucket)  # type: ignore[arg-type]


def _bucketed(
    site: str,
    w: _Writes,
    per_minute: Mapping[tuple[str, int, str], int],
    visitors_per_minute: Iterable[Mapping[tuple[str, int], set[str]]],
) -> None:
    # A batch spans a few minutes: each (family, minute) names its three keys once.
    indices: dict[tuple[str, int], list[int]] = {}
    for (family, minute, f), n in per_minute.items():
        at = indices.get((family, minute))
        if at is None:
            at = indices[family, minute] = [
                w.key(_family_key(site, family, res, minute // size), TTL_S[res])
                for res, size in RESOLUTIONS
            ]
        for i in at:
            w.hincr[i][f] += n
    for groups in visitors_per_minute:
        for (f, minute), visitors in groups.items():
            keys = [
                w.key(unique_key(site, f, res, minute // size), TTL_S[res])
                for res, size in RESOLUTIONS
            ]
            w.pfadd.append((keys, visitors))


def _score(config: SiteConfig, w: _Writes, r: Record, cvs: Sequence[str]) -> None:
    for c in cvs:
        weight = config.weights.get(c)
        if weight:
            day_key = w.key(lead_key(config.site, r.ts // 86_400_000), LEAD_TTL_S)
            w.zincr[day_key][r.visitor] += weight
            w.lpush[w.key(recent_key(config.site, r.visitor), LEAD_TTL_S)].append(f"{r.ts}|{c}")


def _visitor_state(
    config: SiteConfig, w: _Writes, prep: Prepared, states: Mapping[str, Mapping[str, str]]
) -> None:
    if not prep.stateful:
        return
    site = config.site
    now: dict[str, dict[str, str]] = {v: dict(states.get(v, {})) for v in prep.stateful}
    funnel_steps: PerMinute = Counter()
    for r, cvs in prep.notable:
        state = now.get(r.visitor)
        if state is None:
            continue
        for funnel in config.funnels:
            _advance(funnel.name, funnel.steps, funnel.window_ms, state, r.ts, cvs, funnel_steps)
        for exp in config.experiments:
            slot = f"x:{exp.name}"
            if r.kind == "variant" and r.name == exp.name:
                variant = r.props.get("variant")
                if isinstance(variant, str) and variant in exp.variants:
                    state.setdefault(slot, variant)
                    key = w.key(exposed_key(site, exp.name, state[slot]), exp.ttl_s)
                    w.sadd[key].add(r.visitor)
            assigned = state.get(slot)
            if assigned is not None:
                for c in cvs:
                    if c in exp.conversions:
                        key = w.key(converted_key(site, exp.name, assigned, c), exp.ttl_s)
                        w.sadd[key].add(r.visitor)
    _bucketed(site, w, funnel_steps, ())
    for visitor, state in now.items():
        if state != states.get(visitor, {}):
            w.hset[w.key(visitor_key(site, visitor), VISITOR_TTL_S)].update(state)


def _advance(
    name: str,
    steps: Sequence[frozenset[str]],
    window_ms: int,
    state: dict[str, str],
    ts: int,
    cvs: Sequence[str],
    counts: Counter[tuple[str, int, str]],
) -> None:
    """One event through one funnel for one visitor: start, advance, or nothing."""
    if not cvs:
        return
    slot = f"f:{name}"
    current = state.get(slot)
    if current is not None:
        start_s, _, step_s = current.partition(":")
        start, step = int(start_s), int(step_s)
        if ts < start:
            return  # older than the entry: arrival order rules, the event is ignored
        if ts <= start + window_ms:
            if step < len(steps) and not steps[step].isdisjoint(cvs):
                state[slot] = f"{start}:{step + 1}"
                counts[f"fn:{name}", start // 60_000, str(step + 1)] += 1
            return
    if not steps[0].isdisjoint(cvs):
        state[slot] = f"{ts}:1"
        counts[f"fn:{name}", ts // 60_000, "1"] += 1
