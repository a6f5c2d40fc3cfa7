"""The sites config: which sites exist, their domains, their tag options and their read tokens.

One TOML file, read with the standard library. Every entry point loads it once at start-up and
passes the resulting `Sites` down; nothing else parses it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

SITE_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")

# The keys of a [sites.<id>] table this module reads; docs/configuration.md is generated from
# every module's SITE_KEYS (see consumers/ops/catalog.py).
SITE_KEYS: Final = {
    "domains": "Host names the site's pages are served from (a subdomain matches too); the "
    "collector refuses beacons whose Origin or Referer is elsewhere. Required.",
    "read_tokens": "Bearer tokens that may read the site's counters from the query API.",
    "tag": "Table of options handed to the site's tag (flush_ms, batch_size, clicks, ...); "
    "checked when the tag is rendered (TAG_OPTIONS in snippet/generator.py).",
}
MAX_SITE_ID_LEN = 64


class SitesConfigError(ValueError):
    """The sites config is not valid; the message names the key at fault."""


@dataclass(frozen=True, slots=True)
class Site:
    id: str
    domains: tuple[str, ...]
    read_tokens: tuple[str, ...] = ()
    # Options handed to the tag as they are (features, selectors); the generator owns their meaning.
    tag: Mapping[str, Any] = field(default_factory=dict)
    # The whole [sites.<id>] table. Sections this module does not know (conversion rules,
    # funnels, write keys) are parsed and validated by the package that uses them.
    raw: Mapping[str, Any] = field(default_factory=dict)

    def allows_host(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(host == d or host.endswith("." + d) for d in self.domains)


@dataclass(frozen=True, slots=True)
class Sites:
    by_id: Mapping[str, Site]

    def get(self, site_id: str) -> Site | None:
        return self.by_id.get(site_id)

    def __iter__(self) -> Iterator[Site]:
        return iter(self.by_id.values())

    def __len__(self) -> int:
        return len(self.by_id)


def valid_site_id(site_id: str) -> bool:
    return 0 < len(site_id) <= MAX_SITE_ID_LEN and set(site_id) <= SITE_ID_CHARS


def parse_sites(data: Mapping[str, Any]) -> Sites:
    raw_sites = data.get("sites")
    if not isinstance(raw_sites, dict) or not raw_sites:
        raise SitesConfigError("[sites]: at least one [sites.<id>] table is required")
    by_id: dict[str, Site] = {}
    for site_id, raw in raw_sites.items():
        where = f"[sites.{site_id}]"
        if not valid_site_id(site_id):
            raise SitesConfigError(
                f"{where}: a site id is 1-{MAX_SITE_ID_LEN} characters of a-z, 0-9, '-' and '_'"
            )
        if not isinstance(raw, dict):
            raise SitesConfigError(f"{where}: must be a table")
        domains = raw.get("domains")
        if (
            not isinstance(domains, list)
            or not domains
            or not all(isinstance(d, str) and d for d in domains)
        ):
            raise SitesConfigError(f"{where}.domains: a non-empty list of host names is required")
        # A URL or a host:port here could never equal an Origin's host name: say so now.
        for d in domains:
            if any(c in d for c in "/:@ ") or d.strip(".") == "":
                raise SitesConfigError(
                    f"{where}.domains: {d!r} is not a host name (write shop.example.com, "
                    "without scheme, port or path)"
                )
        tokens = raw.get("read_tokens", [])
        if not isinstance(tokens, list) or not all(isinstance(t, str) and t for t in tokens):
            raise SitesConfigError(f"{where}.read_tokens: a list of non-empty strings")
        tag = raw.get("tag", {})
        if not isinstance(tag, dict):
            raise SitesConfigError(f"{where}.tag: must be a table")
        by_id[site_id] = Site(
            id=site_id,
            domains=tuple(d.lower().rstrip(".") for d in domains),
            read_tokens=tuple(tokens),
            tag=tag,
            raw=raw,
        )
    return Sites(by_id=by_id)


def load_sites(path: str | Path) -> Sites:
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise SitesConfigError(f"cannot read sites config {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SitesConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_sites(data)
