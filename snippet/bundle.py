"""Assemble a site's tracker from the minified core and the modules of the features it enables.

snippet/dist/ holds what `make tag` (snippet/build.mjs, terser) made of snippet/src/: the core
with two placeholders, one bare function expression per feature module, and names.json, the
short names the minifier gave the config keys. No JavaScript tooling runs here: assembling is
putting the chosen modules, in a fixed order, into the core's module list.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Collection, Mapping
from functools import cache
from importlib import resources
from typing import Final

CONFIG_PLACEHOLDER: Final = "__MICROCV_CONFIG__()"
MODULES_PLACEHOLDER: Final = "__MICROCV_MODULES__"

# Downloads and outbound links have no module: the clicks module sends link clicks and the
# collector classifies them (collector/links.py). The order is the modules' order in the
# tracker; they do not depend on it (each hooks in on its own), so it is the order in which the
# default set, then the "all" variant, compress best (make tag-size; found by moving one module
# at a time while either got smaller: default 6 and "all" 9 bytes fewer than the order before).
MODULES: Final = (
    "scroll",
    "rage",
    "clicks",
    "consent",
    "variants",
    "forms",
    "engaged",
    "dead",
    "visible",
    "spa",
    "visitor",
)
# The default set: pageviews (with single-page apps), clicks (with downloads, outbound), scroll.
DEFAULT_MODULES: Final = frozenset({"spa", "clicks", "scroll"})
# Rage and dead clicks describe elements with the clicks module's descriptor.
REQUIRES: Final = {"rage": "clicks", "dead": "clicks"}
# Code only some sites need (snippet/build.mjs, FLAGS): flag -> the file ("core" or a module)
# built with and without it; snippet/dist/<file>.<flag>.js has the code for it.
FLAGS: Final = {
    "webdriver": "core",
    "hash": "spa",
    "rules": "clicks",
    "nomax": "scroll",
    "root": "scroll",
}


def _dist(name: str) -> str:
    return resources.files("snippet").joinpath("dist", name).read_text(encoding="utf-8").strip()


def _file(name: str, flags: Collection[str]) -> str:
    """The dist file of the core or a module, built with the given flags on."""
    return name + "".join(f".{flag}" for flag in sorted(flags) if FLAGS[flag] == name) + ".js"


@cache
def core(flags: frozenset[str] = frozenset()) -> str:
    source = _dist(_file("core", flags))
    for placeholder in (CONFIG_PLACEHOLDER, MODULES_PLACEHOLDER):
        if source.count(placeholder) != 1:
            raise RuntimeError(f"snippet/dist/core.js must contain {placeholder} once")
    return source


@cache
def module(name: str, flags: frozenset[str] = frozenset()) -> str:
    if name not in MODULES:
        raise ValueError(f"unknown tag module {name!r}")
    return _dist(_file(name, flags))


@cache
def config_names() -> Mapping[str, str]:
    """Config key (as the tag source spells it, without its leading "_") -> minified name."""
    names: dict[str, str] = json.loads(_dist("names.json"))
    return {key.removeprefix("_"): short for key, short in names.items()}


def assemble(features: Collection[str], flags: Collection[str] = ()) -> str:
    """The tracker with the given modules, built with the given flags (FLAGS), its config
    placeholder still to be filled."""
    unknown = set(features) - set(MODULES)
    if unknown:
        raise ValueError(f"unknown tag modules: {', '.join(sorted(unknown))}")
    if set(flags) - set(FLAGS):
        raise ValueError(f"unknown tag flags: {', '.join(sorted(set(flags) - set(FLAGS)))}")
    on = frozenset(flags)
    for feature, needed in REQUIRES.items():
        if feature in features and needed not in features:
            raise ValueError(f"the {feature} module needs the {needed} module")
    modules = ",".join(module(name, on) for name in MODULES if name in features)
    return core(on).replace(MODULES_PLACEHOLDER, modules)


def gzip_size(text: str) -> int:
    """Bytes after gzip -9, the figure the size budget is written in."""
    return len(gzip.compress(text.encode(), compresslevel=9, mtime=0))
