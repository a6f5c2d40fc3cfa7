"""A site's measurement config: micro-conversions, funnels, experiments and lead-score weights.

These sections live in the site's own table of the sites config (`[sites.<id>.conversions.<name>]`,
`[sites.<id>.funnels.<name>]`, `[sites.<id>.experiments.<name>]`, `[sites.<id>.lead_score]`);
snippet.sites keeps that table as `site.raw` and this module parses and validates it. Every error
names the key at fault. docs/counters.md describes each key.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final
from urllib.parse import urlsplit

from collector.schema import KINDS, PropValue
from consumers.store import parse_window
from snippet.sites import Site, Sites, SitesConfigError

NAME_RE: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
MAX_FUNNEL_WINDOW_MIN: Final = 7 * 1440  # visitor state lives 8 days (keys.VISITOR_TTL_S)
MAX_STEPS: Final = 20
MAX_VARIANTS: Final = 20
DEFAULT_EXPERIMENT_DAYS: Final = 90
# Distinct (kind, name, page) triples whose matching rules each site remembers, and URLs whose
# path is remembered: both bound memory, and a hit skips the URL parsing and glob matching.
RULE_CACHE: Final = 2048
URL_CACHE: Final = 4096

_RULE_KEYS: Final = frozenset({"kind", "name", "path", "min_depth", "props"})

# The keys this module reads, for the configuration reference (consumers.ops.catalog).
SITE_KEYS: Final[dict[str, str]] = {
    "conversions": "The site's micro-conversions, one table each: [sites.<id>.conversions.<name>].",
    "conversions.*": "A micro-conversion rule: every event matching all its conditions counts.",
    "funnels": "Funnels, one table each: [sites.<id>.funnels.<name>].",
    "funnels.*": "A funnel: ordered steps and a conversion window.",
    "experiments": "A/B experiments, one table each: [sites.<id>.experiments.<name>].",
    "experiments.*": "An experiment: its variants and the conversions compared.",
    "lead_score": "Lead scoring (BtoB).",
    "lead_score.weights": "Points per conversion, as a table conversion = points.",
    "conversions.*.props.*": "A property value the event must carry.",
    "conversions.*.kind": "Event kind(s) that count: pageview, click, scroll, download, custom, "
    "visible, form_submit, ... (a string or a list). Required.",
    "conversions.*.name": "Globs on the event name (data-mcv name, custom event, file name, "
    "scroll milestone); any name when absent.",
    "conversions.*.path": 'Globs on the page\'s URL path, e.g. "/blog/*"; any page when absent.',
    "conversions.*.min_depth": "Scroll events only: the milestone must be at least this (1-100).",
    "conversions.*.props": "Table of event properties that must all be equal.",
    "funnels.*.steps": "2-20 conversions in order; a step may be a list of alternatives.",
    "funnels.*.window": 'Conversion window from the first step, e.g. "30m" (at most 7d).',
    "experiments.*.variants": "2-20 variant names; the first is the control.",
    "experiments.*.conversions": "Conversions reported per variant.",
    "experiments.*.days": "Days the exposure and conversion sets are kept after the last "
    "event (default 90).",
    "lead_score.weights.*": "Whole-number points a visitor earns each time it converts.",
}


@dataclass(frozen=True, slots=True)
class Conversion:
    """A micro-conversion: every event that matches all the rule's conditions counts as one."""

    name: str
    kinds: frozenset[str]
    names: tuple[str, ...] = ()  # globs on the event name; empty = any name
    paths: tuple[str, ...] = ()  # globs on the URL path; empty = any page
    min_depth: int | None = None  # scroll events: the milestone must be at least this
    props: Mapping[str, PropValue] = field(default_factory=dict)  # each must be equal

    def matches(self, kind: str, name: str, path: str, props: Mapping[str, PropValue]) -> bool:
        return self.matches_page(kind, name, path) and props_match(props, tuple(self.props.items()))

    def matches_page(self, kind: str, name: str, path: str) -> bool:
        """Every condition but the props."""
        if kind not in self.kinds:
            return False
        if self.names and not any(fnmatch.fnmatchcase(name, g) for g in self.names):
            return False
        if self.paths and not any(fnmatch.fnmatchcase(path, g) for g in self.paths):
            return False
        return self.min_depth is None or (name.isdigit() and int(name) >= self.min_depth)


# A rule that matched an event's kind, name and page: (conversion, props it still needs).
Candidate = tuple[str, tuple[tuple[str, PropValue], ...]]


def props_match(props: Mapping[str, Any], need: tuple[tuple[str, PropValue], ...]) -> bool:
    return all(props.get(k) == v for k, v in need)


@dataclass(frozen=True, slots=True)
class Funnel:
    """Ordered steps; each step is one conversion or a set of alternatives ("a or b")."""

    name: str
    steps: tuple[frozenset[str], ...]
    window_ms: int

    def step_names(self) -> list[str]:
        return [" | ".join(sorted(step)) for step in self.steps]


@dataclass(frozen=True, slots=True)
class Experiment:
    name: str
    variants: tuple[str, ...]  # the first is the control
    conversions: tuple[str, ...]
    ttl_s: int


@dataclass(frozen=True, slots=True)
class SiteConfig:
    site: str
    conversions: tuple[Conversion, ...] = ()
    funnels: tuple[Funnel, ...] = ()
    experiments: tuple[Experiment, ...] = ()
    weights: Mapping[str, int] = field(default_factory=dict)
    # candidates(kind, name, url): the rules an event matches but for its props, remembered.
    candidates: Callable[[str, str, str], tuple[Candidate, ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        # Per instance, so a config's cache goes with it; frozen, hence object.__setattr__.
        object.__setattr__(self, "candidates", lru_cache(maxsize=RULE_CACHE)(self._candidates))

    def _candidates(self, kind: str, name: str, url: str) -> tuple[Candidate, ...]:
        path = url_path(url)
        return tuple(
            (c.name, tuple(c.props.items()))
            for c in self.conversions
            if c.matches_page(kind, name, path)
        )

    def conversions_of(self, kind: str, name: str, url: str, props: Mapping[str, Any]) -> list[str]:
        if not self.conversions:
            return []
        return [c for c, need in self.candidates(kind, name, url) if props_match(props, need)]

    def funnel(self, name: str) -> Funnel | None:
        return next((f for f in self.funnels if f.name == name), None)

    def experiment(self, name: str) -> Experiment | None:
        return next((e for e in self.experiments if e.name == name), None)


@lru_cache(maxsize=URL_CACHE)
def url_path(url: str) -> str:
    try:
        return urlsplit(url).path or "/"
    except ValueError:
        return "/"


def _names(value: Any, where: str, what: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) and i for i in items):
        raise SitesConfigError(f"{where}: {what}: a non-empty string or list of strings")
    return tuple(items)


def _check_name(name: str, where: str) -> None:
    if not NAME_RE.fullmatch(name):
        raise SitesConfigError(f"{where}: a name is 1-64 characters of a-z, 0-9, '_' and '-'")


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SitesConfigError(f"{where}: must be a table")
    return value


def _conversion(name: str, raw: Any, where: str) -> Conversion:
    _check_name(name, where)
    rule = _table(raw, where)
    unknown = sorted(set(rule) - _RULE_KEYS)
    if unknown:
        raise SitesConfigError(f"{where}.{unknown[0]}: unknown key (known: {sorted(_RULE_KEYS)})")
    if "kind" not in rule:
        raise SitesConfigError(f"{where}.kind: required (one of {sorted(KINDS)})")
    kinds = _names(rule["kind"], f"{where}.kind", "an event kind")
    for kind in kinds:
        if kind not in KINDS:
            raise SitesConfigError(f"{where}.kind: {kind!r} is not one of {sorted(KINDS)}")
    names = _names(rule["name"], f"{where}.name", "names or globs") if "name" in rule else ()
    paths = _names(rule["path"], f"{where}.path", "URL path globs") if "path" in rule else ()
    if any(not p.startswith(("/", "*")) for p in paths):
        raise SitesConfigError(f"{where}.path: a path glob starts with '/' or '*'")
    min_depth = rule.get("min_depth")
    if min_depth is not None and (
        isinstance(min_depth, bool) or not isinstance(min_depth, int) or not 0 < min_depth <= 100
    ):
        raise SitesConfigError(f"{where}.min_depth: a scroll percentage, 1-100")
    # On any other kind the rule would silently match only events named like a number.
    if min_depth is not None and kinds != ("scroll",):
        raise SitesConfigError(f'{where}.min_depth: only for kind = "scroll" (the milestone)')
    props = _table(rule.get("props", {}), f"{where}.props")
    for key, value in props.items():
        if not isinstance(value, str | int | float | bool):
            raise SitesConfigError(f"{where}.props.{key}: a string, number or boolean")
    return Conversion(name, frozenset(kinds), names, paths, min_depth, props)


def _window_ms(value: Any, where: str) -> int:
    if not isinstance(value, str):
        raise SitesConfigError(f'{where}: a duration such as "30m", "2h" or "1d"')
    try:
        minutes = parse_window(value)
    except ValueError as exc:
        raise SitesConfigError(f"{where}: {exc}") from None
    if minutes > MAX_FUNNEL_WINDOW_MIN:
        raise SitesConfigError(f"{where}: at most 7d")
    return minutes * 60_000


def _funnel(name: str, raw: Any, where: str, known: set[str]) -> Funnel:
    _check_name(name, where)
    table = _table(raw, where)
    unknown = sorted(set(table) - {"steps", "window"})
    if unknown:
        raise SitesConfigError(f"{where}.{unknown[0]}: unknown key (known: steps, window)")
    raw_steps = table.get("steps")
    if not isinstance(raw_steps, list) or not 2 <= len(raw_steps) <= MAX_STEPS:
        raise SitesConfigError(f"{where}.steps: a list of 2-{MAX_STEPS} conversions")
    steps: list[frozenset[str]] = []
    for i, step in enumerate(raw_steps):
        names = _names(step, f"{where}.steps[{i}]", "a conversion or a list of alternatives")
        for n in names:
            if n not in known:
                raise SitesConfigError(f"{where}.steps[{i}]: {n!r} is not a defined conversion")
        steps.append(frozenset(names))
    window = _window_ms(table.get("window", "30m"), f"{where}.window")
    return Funnel(name, tuple(steps), window)


def _experiment(name: str, raw: Any, where: str, known: set[str]) -> Experiment:
    _check_name(name, where)
    table = _table(raw, where)
    unknown = sorted(set(table) - {"variants", "conversions", "days"})
    if unknown:
        raise SitesConfigError(
            f"{where}.{unknown[0]}: unknown key (known: variants, conversions, days)"
        )
    variants = _names(table.get("variants"), f"{where}.variants", "variant names")
    if not 2 <= len(variants) <= MAX_VARIANTS or len(set(variants)) != len(variants):
        raise SitesConfigError(f"{where}.variants: 2-{MAX_VARIANTS} distinct names")
    for v in variants:
        _check_name(v, f"{where}.variants")
    conversions = _names(table.get("conversions"), f"{where}.conversions", "conversion names")
    for c in conversions:
        if c not in known:
            raise SitesConfigError(f"{where}.conversions: {c!r} is not a defined conversion")
    days = table.get("days", DEFAULT_EXPERIMENT_DAYS)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 400:
        raise SitesConfigError(f"{where}.days: a whole number of days, 1-400")
    return Experiment(name, variants, conversions, days * 86400)


def _weights(raw: Any, where: str, known: set[str]) -> dict[str, int]:
    table = _table(raw, where)
    unknown = sorted(set(table) - {"weights"})
    if unknown:
        raise SitesConfigError(f"{where}.{unknown[0]}: unknown key (known: weights)")
    weights = _table(table.get("weights", {}), f"{where}.weights")
    for name, w in weights.items():
        if name not in known:
            raise SitesConfigError(f"{where}.weights.{name}: not a defined conversion")
        # Integers keep scores exact: they are summed with ZINCRBY over many batches.
        if isinstance(w, bool) or not isinstance(w, int) or not -1000 <= w <= 1000:
            raise SitesConfigError(f"{where}.weights.{name}: a whole number, -1000 to 1000")
    return dict(weights)


def parse_site_config(site: Site) -> SiteConfig:
    """Parse the consumers' sections of one site's table; raises SitesConfigError."""
    raw = site.raw
    base = f"[sites.{site.id}]"
    conversions = [
        _conversion(n, r, f"{base}.conversions.{n}")
        for n, r in _table(raw.get("conversions", {}), f"{base}.conversions").items()
    ]
    known = {c.name for c in conversions}
    funnels = [
        _funnel(n, r, f"{base}.funnels.{n}", known)
        for n, r in _table(raw.get("funnels", {}), f"{base}.funnels").items()
    ]
    experiments = [
        _experiment(n, r, f"{base}.experiments.{n}", known)
        for n, r in _table(raw.get("experiments", {}), f"{base}.experiments").items()
    ]
    weights = _weights(raw.get("lead_score", {}), f"{base}.lead_score", known)
    return SiteConfig(site.id, tuple(conversions), tuple(funnels), tuple(experiments), weights)


def check_site(site: Site) -> None:
    """Validate the site's consumer sections (`microcv sites validate` calls this)."""
    parse_site_config(site)


def parse_configs(sites: Sites | Sequence[Site]) -> dict[str, SiteConfig]:
    return {site.id: parse_site_config(site) for site in sites}
