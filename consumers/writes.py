"""From a site's share of a batch to the Redis writes it produces, aggregated in memory.

Decoding and matching happen once per event (`prepare`); the writes are then summed per key and
field (`build`), so one script call per share carries them all. Funnels and experiments need
each visitor's state before the share (read by the store beside the watermark, atomically); the
share's events are then replayed over it in offset order, which is the visitor's event order
because a visitor's events share a partition (collector.schema.record_key).

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

from collector.schema import Record
from consumers.config import SiteConfig
from consumers.dimensions import breakdowns
from consumers.keys import (
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


@dataclass(slots=True)
class Prepared:
    """A share after decoding: one entry per distinct event id, in offset order."""

    site: str
    partition: int
    first_offset: int
    last_offset: int
    records: list[Record]
    conversions: list[list[str]]
    stateful: set[str]  # visitors whose funnel/experiment state the share needs
    duplicates: int  # events dropped: ids repeated inside the share or already seen
    bots: int


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
    pfadd: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
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
                ms = sorted(members) if isinstance(members, set) else list(members)
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
                "pf": chunks(self.pfadd),
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
    config: SiteConfig, partition: int, items: Sequence[tuple[int, Record]], skip: set[str]
) -> Prepared:
    """Decode-side work done once: drop repeated ids (and `skip`: ids Redis has seen), match
    conversions, and note which visitors need their state read."""
    seen: set[str] = set(skip)
    records: list[Record] = []
    conversions: list[list[str]] = []
    stateful: set[str] = set()
    step_names = {n for f in config.funnels for step in f.steps for n in step}
    exp_names = {e.name for e in config.experiments}
    exp_conversions = {c for e in config.experiments for c in e.conversions}
    for _, r in items:
        if r.id in seen:
            continue
        seen.add(r.id)
        records.append(r)
        cvs = [] if r.bot else config.conversions_of(r.kind, r.name, r.url, r.props)
        conversions.append(cvs)
        if not r.bot and (
            (r.kind == "variant" and r.name in exp_names)
            or not step_names.isdisjoint(cvs)
            or not exp_conversions.isdisjoint(cvs)
        ):
            stateful.add(r.visitor)
    return Prepared(
        site=config.site,
        partition=partition,
        first_offset=items[0][0],
        last_offset=items[-1][0],
        records=records,
        conversions=conversions,
        stateful=stateful,
        duplicates=len(items) - len(records),
        bots=sum(r.bot for r in records),
    )


def build(config: SiteConfig, prep: Prepared, states: Mapping[str, Mapping[str, str]]) -> Payload:
    """Every write of the share, summed per key and field; `states` maps each visitor in
    `prep.stateful` to its state hash before the share."""
    site = config.site
    w = _Writes(keys=[watermark_key(site)])
    per_minute: Counter[tuple[str, int, str]] = Counter()  # (family, minute, field) -> n
    visitors_per_minute: dict[tuple[str, int], set[str]] = defaultdict(set)
    for r, cvs in zip(prep.records, prep.conversions, strict=True):
        w.ids[w.key(seen_key(site, r.client_ts // 3_600_000), SEEN_TTL_S)].append(r.id)
        minute = r.ts // 60_000
        if r.bot:
            for f in counter_fields(r.kind, r.name):
                per_minute["bot", minute, f] += 1
            continue
        for f in counter_fields(r.kind, r.name):
            per_minute["c", minute, f] += 1
        for dim, value in breakdowns(r):
            per_minute[f"bd:{dim}", minute, value] += 1
        for u in ("*", r.kind):
            visitors_per_minute[u, minute].add(r.visitor)
        for c in cvs:
            per_minute["cv", minute, c] += 1
            visitors_per_minute[f"cv:{c}", minute].add(r.visitor)
        _score(config, w, r, cvs)
    _bucketed(site, w, per_minute, visitors_per_minute)
    _visitor_state(config, w, prep, states)
    return Payload(keys=w.keys, payload=w.encode(), applied=len(prep.records))


def _bucketed(
    site: str,
    w: _Writes,
    per_minute: Mapping[tuple[str, int, str], int],
    visitors_per_minute: Mapping[tuple[str, int], set[str]],
) -> None:
    for (family, minute, f), n in per_minute.items():
        for res, size in RESOLUTIONS:
            if family.startswith("bd:"):
                key = breakdown_key(site, family[3:], res, minute // size)  # type: ignore[arg-type]
            elif family.startswith("fn:"):
                key = funnel_key(site, family[3:], res, minute // size)
            else:
                key = family_key(site, family, res, minute // size)  # type: ignore[arg-type]
            w.hincr[w.key(key, TTL_S[res])][f] += n
    for (f, minute), visitors in visitors_per_minute.items():
        for res, size in RESOLUTIONS:
            w.pfadd[w.key(unique_key(site, f, res, minute // size), TTL_S[res])] |= visitors


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
    funnel_steps: Counter[tuple[str, int, str]] = Counter()
    for r, cvs in zip(prep.records, prep.conversions, strict=True):
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
    _bucketed(site, w, funnel_steps, {})
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
