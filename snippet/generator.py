"""Render the inline tag a site owner pastes: tracker.js with the site's config filled in.

The tracker source is the same for every site; a site's config goes into its one placeholder as a
JSON object literal, escaped so that no value can end the surrounding <script> element.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any, Final
from urllib.parse import urlsplit

from snippet.sites import Site, SitesConfigError

PLACEHOLDER: Final = '"__MICROCV_CONFIG__"'
COLLECT_PATH: Final = "/v1/collect"

# What a page can paste before the tag (or anywhere, if the tag is loaded late) to call
# microcv('event', name, props) early; the tag replays the queued calls when it starts.
QUEUE_STUB: Final = (
    "<script>window.microcv=window.microcv||function(){"
    "(microcv.q=microcv.q||[]).push(arguments)}</script>"
)

# Tag options a site may set in [sites.<id>.tag]; each is handed to the tracker under its own
# name, and the tracker applies its default when an option is absent.
_EXTENSION = re.compile(r"[a-z0-9]{1,10}(\.[a-z0-9]{1,10})?")


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 60_000


def _extensions(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(e, str) and _EXTENSION.fullmatch(e) for e in value
    )


def _bool(value: Any) -> bool:
    return isinstance(value, bool)


TAG_OPTIONS: Final = {
    "flush_ms": (_positive_int, "milliseconds, 1-60000"),
    "batch_size": (_positive_int, "a positive number of events"),
    "clicks": (_bool, "true or false"),
    "downloads": (_bool, "true or false"),
    "scroll": (_bool, "true or false"),
    "download_extensions": (_extensions, 'a list of lower-case extensions like "epub"'),
}


@cache
def tracker_source() -> str:
    source = resources.files("snippet").joinpath("tracker.js").read_text(encoding="utf-8")
    if source.count(PLACEHOLDER) != 1:
        raise RuntimeError(f"tracker.js must contain {PLACEHOLDER} exactly once")
    return source


@cache
def stripped_source() -> str:
    source = strip_source(tracker_source())
    # Inside <script>, these would end the element or switch the parser into another state.
    # (Comments may mention them: they are gone by now.)
    if re.search(r"</script|<!--|<script", source, re.IGNORECASE):
        raise RuntimeError("tracker.js code must not contain '</script', '<script' or '<!--'")
    if source.count(PLACEHOLDER) != 1:
        raise RuntimeError(f"{PLACEHOLDER} must be in code, not in a comment")
    return source


def strip_source(source: str) -> str:
    """Drop comment-only lines, blank lines and indentation; a stand-in for a real minifier.

    Only whole lines go, so strings and regular expressions are never touched; the tracker keeps
    its comments on lines of their own for that reason.
    """
    lines: list[str] = []
    in_block = False
    for raw in source.splitlines():
        line = raw.strip()
        if in_block:
            in_block = "*/" not in line
            continue
        if line.startswith("/*"):
            in_block = "*/" not in line
            continue
        if not line or line.startswith("//"):
            continue
        lines.append(line)
    return "\n".join(lines)


def collect_endpoint(collector_url: str) -> str:
    parts = urlsplit(collector_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SitesConfigError(f"collector URL {collector_url!r}: must be http(s)://host[:port]")
    if parts.query or parts.fragment:
        raise SitesConfigError(f"collector URL {collector_url!r}: no query or fragment")
    return collector_url.rstrip("/") + COLLECT_PATH


def tag_config(site: Site, collector_url: str) -> dict[str, Any]:
    """The config object the tracker reads: site, endpoint and the site's validated tag options."""
    config: dict[str, Any] = {"site": site.id, "endpoint": collect_endpoint(collector_url)}
    options: Mapping[str, Any] = site.tag
    for key, value in options.items():
        if key not in TAG_OPTIONS:
            known = ", ".join(sorted(TAG_OPTIONS))
            raise SitesConfigError(f"[sites.{site.id}.tag].{key}: unknown option (known: {known})")
        check, expected = TAG_OPTIONS[key]
        if not check(value):
            raise SitesConfigError(f"[sites.{site.id}.tag].{key}: expected {expected}")
        config[key] = value
    return config


def render_config(site: Site, collector_url: str) -> str:
    """The config as a JSON object literal that is safe inside an inline <script>."""
    text = json.dumps(tag_config(site, collector_url), separators=(",", ":"), ensure_ascii=False)
    # JSON escapes keep the values; "<" can no longer start "</script>" or "<!--", and
    # U+2028/2029 are line terminators to older JavaScript parsers.
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def render_script(site: Site, collector_url: str) -> str:
    """The tracker with its config filled in, as JavaScript (no <script> element)."""
    return stripped_source().replace(PLACEHOLDER, render_config(site, collector_url))


def render_inline(site: Site, collector_url: str) -> str:
    """The <script> element a site owner pastes into <head>."""
    return f"<script>{render_script(site, collector_url)}</script>"
