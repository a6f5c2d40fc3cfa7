"""Link clicks made into downloads and outbound events: the rules the tag leaves to the collector.

The tag (snippet/src/core.js, about()) sends an untagged click on a link, kind "click" without
a name, with two props: "href", the link's origin and path (no query, no fragment) when its URL
has a host (http, https, ftp), else only the scheme ("blob:", "data:", "mailto:"), and "dl",
the link's download attribute when it has one. Its dead and rage clicks on links carry the same
props. Keeping the rules here keeps the tag small and gives them one place and one test suite.

- Download: the extension comes from the last segment of the URL's path (the query and fragment
  never reach us, a host name or a dotted directory is not an extension), case ignored, the
  longest listed extension wins (tar.gz, not gz); the site's `download_extensions` add to the
  default list. Any `<a download>` counts, named by its attribute, else by the file name, else
  by the scheme. Props: {ext} when the extension is listed.
- Outbound: an http(s) link to another host than the page's. Name: the host name; props: {url}.
- A download link on another host is a download. A link click that is neither is a click.
- Dead clicks on download and outbound links are dropped: they leave the page as it was by
  design. Rage clicks keep their kind.

Each switch (`downloads`, `outbound`, `clicks` in [sites.<id>.tag]) decides whether its events
are counted; a link click the site counts as nothing is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Final, Literal
from urllib.parse import unquote, urlsplit

from collector.schema import MAX_NAME_LEN, Event, PropValue
from snippet.generator import TAG_OPTIONS
from snippet.sites import Site

DEFAULT_EXTENSIONS: Final = (
    "pdf|zip|(tar\\.)?gz|tgz|bz2|xz|7z|rar|dmg|exe|msi|pkg|deb|rpm|apk|iso|(doc|xls|ppt)x?|"
    "od[tsp]|rtf|csv|txt|epub|mp[34]|wav|ogg|flac|mov|avi|mkv|webm"
)
# What a site may list: the generator owns the tag options and their checks.
_VALID_EXTENSIONS: Final = TAG_OPTIONS["download_extensions"][0]
# Props the tag adds to a link's click for this module only, and those of a plain click.
_LINK_PROPS: Final = ("href", "dl")
_CLICK_PROPS: Final = ("href", "dl", "el", "x", "y")
_KINDS: Final = frozenset({"click", "dead_click", "rage_click"})

LinkKind = Literal["download", "outbound"]


@lru_cache(maxsize=256)
def _pattern(extensions: tuple[str, ...]) -> re.Pattern[str]:
    # The site's extensions come first; an alternation takes the first that matches at the
    # leftmost dot, so "a.tar.gz" is tar.gz and "a.tar.zst" the site's tar.zst.
    listed = "".join(re.escape(e) + "|" for e in extensions)
    return re.compile(r"\.(" + listed + DEFAULT_EXTENSIONS + r")$", re.IGNORECASE)


def _extensions(site: Site) -> tuple[str, ...]:
    # The collector takes the sites config as it is; an invalid entry (which `sites validate`
    # reports) is ignored here rather than failing requests.
    value = site.tag.get("download_extensions", [])
    return tuple(value) if _VALID_EXTENSIONS(value) else ()


def _on(site: Site, switch: str) -> bool:
    return site.tag.get(switch, True) is not False


def _file_name(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    try:
        return unquote(name, errors="strict")
    except UnicodeDecodeError:
        return name  # a malformed escape: keep the name as written


def link_event(
    href: str, download: str | None, page_url: str, site: Site
) -> tuple[LinkKind, str, dict[str, PropValue]] | None:
    """(kind, name, props) of a link the site counts as a download or an outbound link."""
    web = href.startswith(("http://", "https://"))
    parts = urlsplit(href) if web else None
    if _on(site, "downloads"):
        file = _file_name(parts.path) if parts else ""
        match = _pattern(_extensions(site)).search(file)
        if match or download is not None:
            name = download or file or href.split(":", 1)[0]
            return "download", name[:MAX_NAME_LEN], {"ext": match[1].lower()} if match else {}
    if parts and _on(site, "outbound") and parts.netloc != urlsplit(page_url).netloc:
        return "outbound", (parts.hostname or "")[:MAX_NAME_LEN], {"url": href}
    return None


def _without(props: dict[str, PropValue], keys: Iterable[str]) -> dict[str, PropValue]:
    return {k: v for k, v in props.items() if k not in keys}


def classify(event: Event, site: Site) -> Event | None:
    """The event as the site counts it; None when the site counts it as nothing."""
    kind, props = event.kind, event.props
    if kind not in _KINDS:
        return event
    href = None if event.name else props.get("href")
    download = props.get("dl")
    link = None
    if isinstance(href, str):
        link = link_event(href, download if isinstance(download, str) else None, event.url, site)
    if link is None or kind == "rage_click":
        if kind == "click" and not _on(site, "clicks"):
            return None  # shipped for the link switches only
        if href is None:
            return event
        return event._replace(props=_without(props, _LINK_PROPS))
    if kind == "dead_click":
        return None
    new_kind, name, extra = link
    # Props every event carries (variants, identify) stay; the click's own do not.
    kept = _without(props, _CLICK_PROPS)
    return event._replace(kind=new_kind, name=name, props={**kept, **extra})
