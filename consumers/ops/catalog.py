"""What can be configured: every settings field and every sites-config key, found in the code.

Two conventions make a package's configuration visible here, with no list to keep in sync:

- Settings: a dataclass whose fields are declared with `collector.settings.setting()` (each field
  carries its environment variable and a one-line doc in its metadata).
- Sites config: a module that parses part of a `[sites.<id>]` table declares, at module level,
  ``SITE_KEYS: dict[str, str]`` mapping each key it reads to a one-line doc. Keys of a sub-table
  are dotted (``"tag.flush_ms"``); ``*`` stands for a name the site owner chooses
  (``"funnels.*.steps"``); a key under an array of tables is dotted the same way. The module may
  also define ``check_site(site: Site) -> None``, raising `SitesConfigError` (or `ValueError`)
  with a message naming the key at fault, which `microcv sites validate` calls for every site,
  and/or ``check_sites(sites: Sites) -> None`` for rules across sites (a key used twice).

The catalog imports the modules of the three packages whose source mentions `SITE_KEYS` or
`setting(` (never a `__main__` module) to find them.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from snippet.sites import Site, Sites

PACKAGES = ("snippet", "collector", "consumers")

SiteCheck = Callable[[Site], None]
SitesCheck = Callable[[Sites], None]


@dataclass(frozen=True, slots=True)
class EnvSetting:
    env: str
    field: str
    default: Any
    doc: str


@dataclass(frozen=True, slots=True)
class SettingsClass:
    qualname: str  # module.Class
    summary: str  # first line of the module's docstring
    settings: tuple[EnvSetting, ...]


@dataclass(frozen=True, slots=True)
class SiteKey:
    key: str
    doc: str
    module: str


def _declares(path: Path) -> bool:
    """Whether a module's source mentions either convention; only those are imported."""
    source = path.read_text(encoding="utf-8")
    return "SITE_KEYS" in source or "setting(" in source


def modules(packages: tuple[str, ...] = PACKAGES) -> Iterator[ModuleType]:
    """The modules of `packages` that may declare configuration, imported, in a stable order.

    Files are read before anything is imported, so a broken or heavy module elsewhere (an API
    route, a browser helper) is never imported by the catalog.
    """
    for name in packages:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise ModuleNotFoundError(f"no package {name}")
        root = Path(next(iter(spec.submodule_search_locations)))
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__main__" or not _declares(path):
                continue  # running a __main__ is its only purpose; importing it may parse argv
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield importlib.import_module(".".join((name, *parts)))


def _summary(module: ModuleType) -> str:
    doc = (module.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else module.__name__


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def settings_classes(mods: list[ModuleType]) -> list[SettingsClass]:
    found: list[SettingsClass] = []
    for module in mods:
        for obj in vars(module).values():
            if not (isinstance(obj, type) and dataclasses.is_dataclass(obj)):
                continue
            if obj.__module__ != module.__name__:
                continue  # imported from elsewhere: listed under its own module
            fields = [f for f in dataclasses.fields(obj) if "env" in f.metadata]
            if not fields:
                continue
            found.append(
                SettingsClass(
                    qualname=f"{module.__name__}.{obj.__qualname__}",
                    summary=_summary(module),
                    settings=tuple(
                        EnvSetting(f.metadata["env"], f.name, _default(f), f.metadata["doc"])
                        for f in fields
                    ),
                )
            )
    return found


def site_keys(mods: list[ModuleType]) -> list[SiteKey]:
    keys: list[SiteKey] = []
    for module in mods:
        declared: Mapping[str, str] | None = getattr(module, "SITE_KEYS", None)
        if declared is None:
            continue
        keys += [SiteKey(key, doc, module.__name__) for key, doc in declared.items()]
    return keys


def _hooks(mods: list[ModuleType], name: str) -> list[tuple[str, Any]]:
    return [
        (module.__name__, getattr(module, name))
        for module in mods
        if hasattr(module, "SITE_KEYS") and callable(getattr(module, name, None))
    ]


def site_checks(mods: list[ModuleType]) -> list[tuple[str, SiteCheck]]:
    return _hooks(mods, "check_site")


def sites_checks(mods: list[ModuleType]) -> list[tuple[str, SitesCheck]]:
    return _hooks(mods, "check_sites")


@dataclass(frozen=True, slots=True)
class Catalog:
    settings: list[SettingsClass]
    site_keys: list[SiteKey]
    site_checks: list[tuple[str, SiteCheck]]
    sites_checks: list[tuple[str, SitesCheck]]

    @property
    def checkers(self) -> list[str]:
        return sorted({module for module, _ in (*self.site_checks, *self.sites_checks)})


def build_catalog(packages: tuple[str, ...] = PACKAGES) -> Catalog:
    mods = list(modules(packages))
    return Catalog(settings_classes(mods), site_keys(mods), site_checks(mods), sites_checks(mods))
