"""Segment write keys: `write_keys = [...]` in a site's table of the sites config.

    [sites.shop]
    domains = ["shop.example.com"]
    write_keys = ["a-long-random-key"]   # HTTP Basic user name for /v1/track, /v1/batch, ...

A key names one site; the same key under two sites is a configuration error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from snippet.sites import Sites, SitesConfigError

# Short keys can be guessed; Segment's own are 32 characters.
MIN_KEY_LEN: Final = 16

# Documented in docs/configuration.md and checked by `microcv sites validate` (consumers/ops).
SITE_KEYS: Final = {
    "write_keys": f"Segment write keys (at least {MIN_KEY_LEN} characters, one site each): the "
    "HTTP Basic user name that /v1/track, /v1/page, /v1/identify and /v1/batch accept for this "
    "site.",
}


def parse_write_keys(sites: Sites) -> Mapping[str, str]:
    """Map each write key to its site id. Raises SitesConfigError naming the key at fault."""
    by_key: dict[str, str] = {}
    for site in sites:
        where = f"[sites.{site.id}].write_keys"
        keys = site.raw.get("write_keys", [])
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise SitesConfigError(f"{where}: a list of strings")
        for key in keys:
            if len(key) < MIN_KEY_LEN or not key.isprintable() or ":" in key:
                raise SitesConfigError(
                    f"{where}: each key is at least {MIN_KEY_LEN} printable characters, no ':'"
                )
            other = by_key.setdefault(key, site.id)
            if other != site.id:
                raise SitesConfigError(f"{where}: a key of [sites.{other}] too; keys are per site")
    return by_key


def check_sites(sites: Sites) -> None:
    parse_write_keys(sites)
