"""What can be configured: every settings field and every sites-config key, found in the code.

Two conventions make a package's configuration visible here, with no list to keep in sync:

- Settings: a dataclass whose fields are declared with `collector.settings.setting()` (each field
  carries its environment variable and a one-line doc in its metadata).
- Sites config: a module that parses part of a `[sites.<id>]` table declares, at module level,
  ``SITE_KEYS: dict[str, str]`` mapping each key it reads to a one-line doc. Keys of a sub-table
  are dotted (``"tag.flush_ms"``); ``*`` stands for a name the site owner chooses
  (``"funnels.*.steps"``); a key under an array of tables is dotted the same way. The module may
  also define ``check_site(site: Site) -> None``, raising `SitesConfigError` (or `ValueError`)
  with a message naming the key at fault; `microcv sites validate` calls it for every site.

The catalog imports every module of the three packages (except `__main__` modules) to find them.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from snippet.sites import Site

PACKAGES = ("snippet", "collector", "consumers")

SiteCheck = Callable[[Site], None]


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


def modules(packages: tuple[str, ...] = PACKAGES) -> Iterator[ModuleType]:
    """Every module of `packages`, imported, in a stable order."""
    for name in packages:
        package = importlib.import_module(name)
        yield package
        found = pkgutil.walk_packages(package.__path__, prefix=f"{name}.")
        for info in sorted(found, key=lambda i: i.name):
            if info.name.rsplit(".", 1)[-1] == "__main__":
                continue  # running it is its only purpose; importing it may parse sys.argv
            yield importlib.import_module(info.name)


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


def site_checks(mods: list[ModuleType]) -> list[tuple[str, SiteCheck]]:
    return [
        (module.__name__, module.check_site)
        for module in mods
        if hasattr(module, "SITE_KEYS") and callable(getattr(module, "check_site", None))
    ]


@dataclass(frozen=True, slots=True)
class Catalog:
    settings: list[SettingsClass]
    site_keys: list[SiteKey]
    site_checks: list[tuple[str, SiteCheck]]


def build_catalog(packages: tuple[str, ...] = PACKAGES) -> Catalog:
    mods = list(modules(packages))
    return Catalog(settings_classes(mods), site_keys(mods), site_checks(mods))
