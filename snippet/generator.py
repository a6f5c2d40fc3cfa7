"""Render a site's tag: the inline script, the loader for the collector-served script (with its
SRI hash), or a Google Tag Manager Custom-HTML tag.

The tracker is assembled from snippet/dist (snippet/bundle.py) with only the modules of the
features the site enables; the site's config goes into its one placeholder as a JSON object
literal, escaped so that no value can end the surrounding <script> element.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import urlsplit

from snippet.bundle import CONFIG_PLACEHOLDER, assemble, config_names
from snippet.sites import Site, SitesConfigError

COLLECT_PATH: Final = "/v1/collect"
TAG_PATH: Final = "/v1/tag/{site}.js"
# The collect URL of the tracker the collector serves (at TAG_PATH), evaluated as it starts.
SERVED_ENDPOINT: Final = 'new URL("../collect",document.currentScript.src).href'
# Options written into the config as what the tracker tests (when they are on): with
# dnt = true, "this browser sends Do-Not-Track"; a site without it ships no such test.
_EXPRESSIONS: Final = {"dnt": 'navigator.doNotTrack=="1"'}

# What a page can paste before the tag (or anywhere, if the tag is loaded late) to call
# microcv('event', name, props) early; the tag replays the queued calls when it starts.
QUEUE_STUB: Final = (
    "<script>window.microcv=window.microcv||function(){"
    "(microcv.q=microcv.q||[]).push(arguments)}</script>"
)

_EXTENSION = re.compile(r"[a-z0-9]{1,10}(\.[a-z0-9]{1,10})?")
_NONCE = re.compile(r"[A-Za-z0-9+/=_-]{1,200}")
MAX_SELECTOR_LEN: Final = 200
MAX_NAME_LEN: Final = 100
MAX_RULES: Final = 50

Check = Callable[[Any], bool]


def _positive_int(limit: int) -> Check:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 < v <= limit


def _bool(value: Any) -> bool:
    return isinstance(value, bool)


def _selector(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_SELECTOR_LEN


def _selector_names(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and len(value) <= MAX_RULES
        and all(
            _selector(k) and isinstance(v, str) and 0 < len(v) <= MAX_NAME_LEN
            for k, v in value.items()
        )
    )


def _extensions(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(e, str) and _EXTENSION.fullmatch(e) for e in value
    )


def _milestones(value: Any) -> bool:
    return (
        isinstance(value, list)
        and 0 < len(value) <= 10
        and all(_positive_int(100)(v) for v in value)
        and value == sorted(set(value))
    )


# Tag options a site may set in [sites.<id>.tag]: (check, what is expected, default).
# Feature switches pick the modules that are shipped; the others are handed to the tracker,
# which applies the same default when an option is absent.
TAG_OPTIONS: Final[dict[str, tuple[Check, str, Any]]] = {
    # features (the default set is on)
    "spa": (_bool, "true or false", True),
    "clicks": (_bool, "true or false", True),
    "downloads": (_bool, "true or false (the collector makes them of link clicks)", True),
    "outbound": (_bool, "true or false (the collector makes them of link clicks)", True),
    "scroll": (_bool, "true or false", True),
    "forms": (_bool, "true or false", False),
    "engaged": (_bool, "true or false", False),
    "rage_clicks": (_bool, "true or false (needs clicks)", False),
    "dead_clicks": (_bool, "true or false (needs clicks)", False),
    "variants": (_bool, "true or false", False),
    "consent": (_bool, "true or false", False),
    "persist_visitor": (
        _bool,
        "true or false (a random id in localStorage: the site owner's consent duty)",
        False,
    ),
    "visible": (_selector_names, 'a table of CSS selector = "name"', {}),
    # settings
    "flush_ms": (_positive_int(60_000), "milliseconds, 1-60000", 1000),
    "batch_size": (_positive_int(100), "a number of events, 1-100", 10),
    "allow_webdriver": (_bool, "true or false", False),
    "dnt": (_bool, "true or false", False),
    "hash": (_bool, "true or false", False),
    "download_extensions": (
        _extensions,
        'a list of lower-case extensions like "epub" (applied by the collector)',
        [],
    ),
    "click_rules": (_selector_names, 'a table of CSS selector = "name"', {}),
    "scroll_milestones": (_milestones, "ascending percentages, 1-100", [25, 50, 75, 90, 100]),
    "scroll_root": (_selector, "a CSS selector", ""),
    "scroll_max": (_bool, "true or false", True),
}

# The configuration reference (consumers/ops/catalog.py) collects every module's SITE_KEYS; the tag
# options are declared from TAG_OPTIONS so the two cannot drift.
SITE_KEYS: Final = {
    f"tag.{name}": f"{expected}; default {json.dumps(default)}."
    for name, (_, expected, default) in TAG_OPTIONS.items()
}

# Feature switch -> the module it ships. The collector makes downloads and outbound events of
# the link clicks the clicks module sends (collector/links.py).
_SWITCHES: Final = {
    "spa": "spa",
    "clicks": "clicks",
    "downloads": "clicks",
    "outbound": "clicks",
    "scroll": "scroll",
    "forms": "forms",
    "engaged": "engaged",
    "rage_clicks": "rage",
    "dead_clicks": "dead",
    "variants": "variants",
    "consent": "consent",
    "visible": "visible",
    "persist_visitor": "visitor",
}
# Options the collector applies (collector/links.py): never handed to the tracker.
SERVER_OPTIONS: Final = frozenset({"downloads", "outbound", "download_extensions"})
# Options that pick the code shipped (snippet/bundle.py, FLAGS): option -> the flag it sets when
# it is not at its default. Sites that keep the default ship no code for the option.
CODE_FLAGS: Final = {
    "allow_webdriver": "webdriver",
    "hash": "hash",
    "click_rules": "rules",
    "scroll_max": "nomax",
    "scroll_root": "root",
}
# Of those, the ones the code decides alone: never in the config.
_CODE_ONLY: Final = frozenset({"allow_webdriver", "hash", "scroll_max"})
# Settings that only matter to one module are left out when that module is.
_SETTING_MODULE: Final = {
    "hash": "spa",
    "click_rules": "clicks",
    "scroll_milestones": "scroll",
    "scroll_root": "scroll",
    "scroll_max": "scroll",
    "visible": "visible",
}


def tag_options(site: Site) -> dict[str, Any]:
    """The site's validated tag options, defaults filled in."""
    options: Mapping[str, Any] = site.tag
    for key, value in options.items():
        if key not in TAG_OPTIONS:
            known = ", ".join(sorted(TAG_OPTIONS))
            raise SitesConfigError(f"[sites.{site.id}.tag].{key}: unknown option (known: {known})")
        check, expected, _ = TAG_OPTIONS[key]
        if not check(value):
            raise SitesConfigError(f"[sites.{site.id}.tag].{key}: expected {expected}")
    return {key: options.get(key, default) for key, (_, _, default) in TAG_OPTIONS.items()}


def tag_features(site: Site) -> frozenset[str]:
    """The modules a site's tracker is assembled from."""
    options = tag_options(site)
    features = frozenset(module for key, module in _SWITCHES.items() if options[key])
    for needs_clicks in ("rage_clicks", "dead_clicks"):
        if options[needs_clicks] and not options["clicks"]:
            raise SitesConfigError(f"[sites.{site.id}.tag].{needs_clicks}: needs clicks = true")
    return features


def tag_flags(site: Site) -> frozenset[str]:
    """The flags the site's tracker is built with: its options off their defaults, of the
    modules it ships."""
    options = tag_options(site)
    features = tag_features(site)
    return frozenset(
        flag
        for key, flag in CODE_FLAGS.items()
        if options[key] != TAG_OPTIONS[key][2] and _SETTING_MODULE.get(key, "") in {"", *features}
    )


def collect_endpoint(collector_url: str) -> str:
    return _base(collector_url) + COLLECT_PATH


def tag_url(site: Site, collector_url: str) -> str:
    return _base(collector_url) + TAG_PATH.format(site=site.id)


def _base(collector_url: str) -> str:
    parts = urlsplit(collector_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SitesConfigError(f"collector URL {collector_url!r}: must be http(s)://host[:port]")
    if parts.query or parts.fragment:
        raise SitesConfigError(f"collector URL {collector_url!r}: no query or fragment")
    return collector_url.rstrip("/")


def tag_config(site: Site, collector_url: str | None) -> dict[str, Any]:
    """The config the tracker reads, under the source's key names.

    Without a collector URL the tracker is the one the collector serves, which posts to the
    collector it was loaded from.
    """
    options = tag_options(site)
    features = tag_features(site)
    config: dict[str, Any] = {"site": site.id}
    if collector_url is not None:
        config["endpoint"] = collect_endpoint(collector_url)
    for key, (_, _, default) in TAG_OPTIONS.items():
        value = options[key]
        if key in SERVER_OPTIONS or key in _CODE_ONLY:
            continue
        if key in _SWITCHES and key not in _SETTING_MODULE:
            continue
        if value == default or _SETTING_MODULE.get(key, "") not in {"", *features}:
            continue
        config[key] = value
    return config


def render_config(site: Site, collector_url: str | None) -> str:
    """The config as an object literal that is safe inside an inline <script>: its keys are the
    minified names (identifiers, so unquoted), its values JSON or expressions of ours."""
    names = config_names()
    config = tag_config(site, collector_url)
    missing = set(config) - set(names)
    if missing:
        raise RuntimeError(f"snippet/dist does not read config keys {sorted(missing)}: make tag")
    # Some values are expressions of ours (no site input) that the tracker evaluates as it
    # starts, so that only the trackers that need them carry them.
    expressions = {key: _EXPRESSIONS[key] for key in config if key in _EXPRESSIONS}
    if collector_url is None:
        expressions["endpoint"] = SERVED_ENDPOINT
    values = [f"{names[k]}:{_json(v)}" for k, v in config.items() if k not in expressions]
    values += [f"{names[k]}:{expression}" for k, expression in expressions.items()]
    return "{" + ",".join(values) + "}"


def _json(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    # JSON escapes keep the values; "<" can no longer start "</script>" or "<!--", U+2028/2029
    # are line terminators to older JavaScript parsers, and "{{" would be a variable to GTM.
    return (
        text.replace("<", "\\u003c")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
        .replace("{{", "{\\u007b")
    )


def render_script(site: Site, collector_url: str | None) -> str:
    """The tracker with its config filled in, as JavaScript (no <script> element)."""
    script = assemble(tag_features(site), tag_flags(site))
    return script.replace(CONFIG_PLACEHOLDER, render_config(site, collector_url))


def render_inline(site: Site, collector_url: str, nonce: str | None = None) -> str:
    """The self-contained <script> element a site owner pastes into <head>.

    With a nonce (a strict CSP's script-src 'nonce-...'), the element carries it; a template
    placeholder such as {{ csp_nonce }} works too, as long as it renders to such a value.
    """
    attr = ""
    if nonce is not None:
        if not _NONCE.fullmatch(nonce) and not nonce.startswith("{"):
            raise SitesConfigError(f"nonce {nonce!r}: base64 characters expected")
        attr = f' nonce="{html.escape(nonce)}"'
    return f"<script{attr}>{render_script(site, collector_url)}</script>"


def subresource_integrity(script: str) -> str:
    digest = hashlib.sha384(script.encode()).digest()
    return "sha384-" + base64.b64encode(digest).decode()


def render_loader(site: Site, collector_url: str) -> str:
    """A <script> element loading the tracker the collector serves, pinned by its SRI hash.

    The hash pins the site's config too: after changing [sites.<id>.tag], render it again.
    """
    integrity = subresource_integrity(render_script(site, None))
    return (
        f'<script async src="{html.escape(tag_url(site, collector_url))}" '
        f'integrity="{integrity}" crossorigin="anonymous"></script>'
    )


def render_gtm(site: Site, collector_url: str) -> str:
    """A Google Tag Manager Custom-HTML tag: the loader (GTM injects it as a script element).

    The served script posts to the collector it came from, so nothing depends on where GTM puts
    the element, and no "{{" reaches GTM's variable syntax.
    """
    return "<!-- microcv: Custom HTML tag, trigger: All Pages (Page View) -->\n" + render_loader(
        site, collector_url
    )
