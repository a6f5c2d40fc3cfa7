"""`microcv sites validate`: a sites config checked by every package that reads it.

snippet/sites.py parses the common part (ids, domains, read tokens); the tag options are checked by
rendering each site's tag config; every other section by the `check_site` / `check_sites` of the
module that declares its keys (see `consumers.ops.catalog`). Keys nobody declares are reported
too: a typo in an optional key would otherwise be silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from consumers.ops.catalog import Catalog, SiteKey
from snippet.generator import tag_config
from snippet.sites import Site, Sites, SitesConfigError, load_sites

KeyPath = tuple[str, ...]

# Any well-formed URL will do: only the site's own tag options are being checked.
_PROBE_COLLECTOR = "http://127.0.0.1"


def key_paths(table: Mapping[str, Any], prefix: KeyPath = ()) -> Iterator[KeyPath]:
    """Every key of a table and of its sub-tables; an array of tables adds no path segment."""
    for key, value in table.items():
        path = (*prefix, key)
        yield path
        if isinstance(value, dict):
            yield from key_paths(value, path)
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                yield from key_paths(item, path)


def _matches(pattern: KeyPath, path: KeyPath) -> bool:
    if len(pattern) != len(path):
        return False
    return all(p in ("*", s) for p, s in zip(pattern, path, strict=True))


def _patterns(keys: Iterable[SiteKey]) -> list[KeyPath]:
    return [tuple(k.key.split(".")) for k in keys]


def unknown_keys(raw: Mapping[str, Any], keys: Iterable[SiteKey]) -> list[str]:
    """Dotted keys of `raw` that no module declares.

    A sub-table is only checked once some module declares keys inside it: a table whose contents
    are left undeclared is free-form as far as this check goes.
    """
    patterns = _patterns(keys)
    unknown: list[str] = []
    for path in key_paths(raw):
        checked = len(path) == 1 or any(
            len(p) == len(path) and _matches(p[:-1], path[:-1]) for p in patterns
        )
        if checked and not any(_matches(p, path) for p in patterns):
            unknown.append(".".join(path))
    return unknown


def uncovered_keys(raw_sites: Iterable[Mapping[str, Any]], keys: Iterable[SiteKey]) -> list[str]:
    """Declared keys that appear in none of the given site tables."""
    paths = [path for raw in raw_sites for path in key_paths(raw)]
    return [k.key for k in keys if not any(_matches(tuple(k.key.split(".")), p) for p in paths)]


def check_site(site: Site, catalog: Catalog) -> list[str]:
    where = f"[sites.{site.id}]"
    errors = [
        f"{where}.{key}: unknown key (no package reads it)"
        for key in unknown_keys(site.raw, catalog.site_keys)
    ]
    try:
        tag_config(site, _PROBE_COLLECTOR)
    except ValueError as exc:
        errors.append(str(exc))
    for module, check in catalog.site_checks:
        try:
            check(site)
        except ValueError as exc:  # SitesConfigError is one
            errors.append(f"{exc} (checked by {module})")
    return errors


def validate_file(path: Path, catalog: Catalog) -> tuple[Sites | None, list[str]]:
    """The parsed sites and every error found; parsing stops at the first structural error."""
    try:
        sites = load_sites(path)
    except SitesConfigError as exc:
        return None, [str(exc)]
    errors = [error for site in sites for error in check_site(site, catalog)]
    for module, check in catalog.sites_checks:
        try:
            check(sites)
        except ValueError as exc:
            errors.append(f"{exc} (checked by {module})")
    return sites, errors
