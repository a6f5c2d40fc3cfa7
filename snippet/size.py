"""`python -m snippet.size` (make tag-size): one line per tracker variant, "<name> <bytes>",
its gzip -9 size as a site owner pastes it: the inline `<script>` element for a site with only
that variant's features switched on, posting to https://collect.example.com (so the config
holds the site id and the collector URL, and nothing else).
"""

from __future__ import annotations

import sys
from typing import Final

from snippet.bundle import DEFAULT_MODULES, MODULES, gzip_size
from snippet.generator import render_inline
from snippet.sites import Site

COLLECTOR: Final = "https://collect.example.com"
# The budget (gzip -9 bytes) the test suite holds each variant to.
BUDGET: Final = {"default": 1300, "all": 2500}

# The switches of the default set (on unless a site turns them off).
_DEFAULT: Final = ("spa", "clicks", "downloads", "outbound", "scroll")
# Module -> the switch that ships it, for the modules outside the default set.
_SWITCH: Final = {"rage": "rage_clicks", "dead": "dead_clicks", "visitor": "persist_visitor"}


def _site(switches: set[str]) -> Site:
    tag: dict[str, object] = {name: False for name in _DEFAULT}
    for name in switches:
        tag[name] = {"#reviews": "reviews_seen"} if name == "visible" else True
    return Site(id="example", domains=("example.com",), tag=tag)


def variants() -> dict[str, set[str]]:
    """Name -> switches on: the core alone, the default set, the default set plus each other
    feature, and every feature."""
    extra = [m for m in MODULES if m not in DEFAULT_MODULES]
    out: dict[str, set[str]] = {"core": set(), "default": set(_DEFAULT)}
    for name in extra:
        out[f"default+{name}"] = {*_DEFAULT, _SWITCH.get(name, name)}
    out["all"] = {*_DEFAULT, *(_SWITCH.get(m, m) for m in extra)}
    return out


def sizes() -> dict[str, int]:
    return {
        name: gzip_size(render_inline(_site(switches), COLLECTOR))
        for name, switches in variants().items()
    }


def main() -> int:
    for name, size in sizes().items():
        print(f"{name} {size}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
