"""A generated clickstream with known answers, computed here independently of consumers.writes.

Each generated event carries the conversions it was made to be (`labels`), so the truth never
runs the worker's rule matching; the funnel, experiment and score rules are re-implemented from
docs/counters.md in a few plain loops.
"""

from __future__ import annotations

import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from collector.records import Record
from collector.schema import PropValue

FUNNEL_WINDOW_MS = 30 * 60_000
STEPS: list[set[str]] = [{"view_product"}, {"reviews_seen", "add_to_cart"}, {"whitepaper"}]
WEIGHTS = {"whitepaper": 30, "add_to_cart": 10, "pricing": 5}
VARIANTS = ["control", "green"]
EXP_CONVERSIONS = ["add_to_cart", "whitepaper"]


def site_table() -> dict[str, Any]:
    """The site's [sites.<id>] table: what deploy/sites.toml's demo declares, as a dict."""
    return {
        "domains": ["shop.example"],
        "conversions": {
            "view_product": {"kind": "pageview", "path": "/product/*"},
            "pricing": {"kind": "pageview", "path": "/pricing"},
            "reviews_seen": {"kind": "visible", "name": "reviews"},
            "add_to_cart": {"kind": "click", "name": "add_to_cart"},
            "whitepaper": {"kind": "download", "name": "*.pdf"},
            "read_article": {"kind": "scroll", "path": "/blog/*", "min_depth": 75},
        },
        "funnels": {
            "buy": {
                "steps": ["view_product", ["reviews_seen", "add_to_cart"], "whitepaper"],
                "window": "30m",
            }
        },
        "experiments": {"cta": {"variants": VARIANTS, "conversions": EXP_CONVERSIONS}},
        "lead_score": {"weights": WEIGHTS},
    }


@dataclass
class Event:
    record: Record
    labels: list[str]


@dataclass
class Truth:
    counters: dict[str, int]
    bots: dict[str, int]
    conversions: dict[str, int]
    uniques: dict[str, int]
    funnel: list[int]
    exposed: dict[str, int]
    converted: dict[str, dict[str, int]]
    scores: dict[str, int]
    pages: dict[str, int]
    downloads: dict[str, int]
    scroll: dict[str, dict[int, int]] = field(default_factory=dict)


PAGES = ["/", "/product/mug", "/product/tee", "/pricing", "/blog/why-mugs", "/blog/tea"]


def generate(site: str, visitors: int, seed: int, now_ms: int | None = None) -> list[Event]:
    """Visitors' sessions over the last 50 minutes, interleaved, each visitor in order."""
    rng = random.Random(seed)
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    start = now - 50 * 60_000
    per_visitor: list[list[Event]] = []
    n = 0
    for v in range(visitors):
        visitor = f"{seed}v{v}"
        bot = rng.random() < 0.05
        ts = start + rng.randrange(0, 10 * 60_000)
        events: list[Event] = []

        def add(
            kind: str,
            name: str,
            path: str,
            labels: list[str],
            visitor: str = visitor,
            bot: bool = bot,
            events: list[Event] = events,
            **props: PropValue,
        ) -> None:
            nonlocal ts, n
            pause = 20 * 60_000 if rng.random() < 0.1 else 0  # some leave the funnel window
            ts += rng.choice([1_000, 5_000, 30_000, 60_000, pause])
            ts = min(ts, now - 1)
            n += 1
            record = Record(
                site=site, visitor=visitor, id=f"{seed}-{n}", kind=kind, name=name, ts=ts,
                client_ts=ts, received=ts, url=f"https://shop.example{path}",
                referrer=rng.choice(["", "https://www.google.com/", "https://news.example/a"]),
                pageview="", props=props, bot=bot,
            )  # fmt: skip
            events.append(Event(record, [] if bot else labels))

        if rng.random() < 0.4:
            add("variant", "cta", "/", [], variant=rng.choice([*VARIANTS, "unknown"]))
        for _ in range(rng.randrange(1, 9)):
            page = rng.choice(PAGES)
            labels = ["view_product"] if page.startswith("/product/") else []
            labels += ["pricing"] if page == "/pricing" else []
            add("pageview", "", page, labels, vw=rng.choice([375, 800, 1440]))
            roll = rng.random()
            if page.startswith("/product/") and roll < 0.5:
                add("visible", "reviews", page, ["reviews_seen"])
            if page.startswith("/product/") and roll < 0.6:
                add(
                    "click",
                    "add_to_cart",
                    page,
                    ["add_to_cart"],
                    x=rng.randrange(1001),
                    y=rng.randrange(1001),
                )
            if roll < 0.3:
                add("download", rng.choice(["whitepaper.pdf", "specs.pdf", "logo.zip"]), page, [])
                if events[-1].record.name.endswith(".pdf"):
                    events[-1].labels = [] if bot else ["whitepaper"]
            if page.startswith("/blog/") and roll < 0.7:
                for depth in (25, 50, 75, 100)[: rng.randrange(1, 5)]:
                    add("scroll", str(depth), page, ["read_article"] if depth >= 75 else [])
        per_visitor.append(events)
    # Interleave visitors at random while keeping each visitor's own order.
    out: list[Event] = []
    queues = [q for q in per_visitor if q]
    while queues:
        i = rng.randrange(len(queues))
        out.append(queues[i].pop(0))
        if not queues[i]:
            queues.pop(i)
    return out


def truth(events: list[Event]) -> Truth:
    counters: Counter[str] = Counter()
    bots: Counter[str] = Counter()
    conversions: Counter[str] = Counter()
    visitors: dict[str, set[str]] = defaultdict(set)
    funnel = [0, 0, 0]
    entry: dict[str, tuple[int, int]] = {}
    variant_of: dict[str, str] = {}
    converted: dict[str, dict[str, set[str]]] = {v: defaultdict(set) for v in VARIANTS}
    scores: Counter[str] = Counter()
    pages: Counter[str] = Counter()
    downloads: Counter[str] = Counter()
    scroll: dict[str, Counter[int]] = defaultdict(Counter)
    for e in events:
        r = e.record
        fields = [r.kind, f"{r.kind}:{r.name}"] if r.name else [r.kind]
        if r.bot:
            bots.update(fields)
            continue
        counters.update(fields)
        visitors["*"].add(r.visitor)
        visitors[r.kind].add(r.visitor)
        path = r.url.removeprefix("https://shop.example")
        if r.kind == "pageview":
            pages[path] += 1
        if r.kind == "download":
            downloads[r.name] += 1
        if r.kind == "scroll":
            scroll[path][int(r.name)] += 1
        for label in e.labels:
            conversions[label] += 1
            visitors[f"cv:{label}"].add(r.visitor)
            scores[r.visitor] += WEIGHTS.get(label, 0)
        if r.kind == "variant" and r.props["variant"] in VARIANTS:
            variant_of.setdefault(r.visitor, str(r.props["variant"]))
        if r.visitor in variant_of:
            for label in e.labels:
                if label in EXP_CONVERSIONS:
                    converted[variant_of[r.visitor]][label].add(r.visitor)
        labels = set(e.labels)
        if not labels:
            continue
        current = entry.get(r.visitor)
        if current is not None and r.ts < current[0]:
            continue
        if current is not None and r.ts <= current[0] + FUNNEL_WINDOW_MS:
            start, reached = current
            if reached < 3 and labels & STEPS[reached]:
                entry[r.visitor] = (start, reached + 1)
                funnel[reached] += 1
            continue
        if labels & STEPS[0]:
            entry[r.visitor] = (r.ts, 1)
            funnel[0] += 1
    return Truth(
        counters=dict(sorted(counters.items())),
        bots=dict(sorted(bots.items())),
        conversions=dict(sorted(conversions.items())),
        uniques={k: len(v) for k, v in visitors.items()},
        funnel=funnel,
        exposed={v: sum(1 for x in variant_of.values() if x == v) for v in VARIANTS},
        converted={v: {c: len(converted[v][c]) for c in EXP_CONVERSIONS} for v in VARIANTS},
        scores={v: s for v, s in scores.items() if s},
        pages=dict(pages),
        downloads=dict(downloads),
        scroll={p: dict(sorted(d.items())) for p, d in scroll.items()},
    )
