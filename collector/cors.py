"""CORS for the collector's endpoints: origins of configured sites only, never `*`.

Beacons go as text/plain so browsers send them without a preflight; a tag or library that adds a
JSON content type or tracing headers (traceparent, ...) gets a preflight, answered here. A
preflight carries no body, so it cannot name its site: an origin of any configured site passes,
and the POST itself is then checked against its own site. No credentials are ever allowed.
"""

from __future__ import annotations

import functools
from typing import Final
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from snippet.sites import Site, Sites

# Request headers a page may add; anything else fails the preflight.
ALLOWED_HEADERS: Final = (
    "content-type",
    "content-encoding",
    "authorization",
    "traceparent",
    "tracestate",
    "baggage",
    "sentry-trace",
    "x-requested-with",
)
MAX_AGE_S: Final = 7200  # Chromium's cap; Firefox allows a day


def host_of(url: str) -> str | None:
    """The host of a web page's URL; None for anything a browser would not send as one (another
    scheme, user info, a port out of range)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or "@" in parts.netloc:
        return None
    return parts.hostname


def request_host(request: Request) -> str | None:
    """The host of the page that sent the request, from Origin or else Referer: None when
    neither is sent, "" when the one sent is no web page's URL (no site allows that host)."""
    for header in ("origin", "referer"):
        value = request.headers.get(header)
        if value and value != "null":
            return host_of(value) or ""
    return None


class Cors:
    def __init__(self, sites: Sites) -> None:
        self._sites = sites
        self.any_site_allows = functools.lru_cache(maxsize=4096)(self._any_site_allows)

    def _any_site_allows(self, origin: str) -> bool:
        host = host_of(origin)
        return host is not None and any(site.allows_host(host) for site in self._sites)

    @staticmethod
    def headers(request: Request, site: Site | None) -> dict[str, str]:
        """Headers for an answer to a POST from a page of `site`."""
        origin = request.headers.get("origin")
        host = host_of(origin) if origin else None
        if site is None or origin is None or host is None or not site.allows_host(host):
            return {"Vary": "Origin"}
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Expose-Headers": "Retry-After",
            "Vary": "Origin",
        }

    def refusal_headers(self, request: Request) -> dict[str, str]:
        """Headers for a refusal given before the request's site is known: readable by a page of
        any configured site. The tag keeps and resends what it cannot read (a CORS failure looks
        like a network error), and these refusals would only come again."""
        origin = request.headers.get("origin")
        if origin is None or not self.any_site_allows(origin):
            return {"Vary": "Origin"}
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Expose-Headers": "Retry-After",
            "Vary": "Origin",
        }

    def preflight(self, request: Request) -> Response:
        origin = request.headers.get("origin")
        headers = {"Vary": "Origin, Access-Control-Request-Headers"}
        if not origin or not self.any_site_allows(origin):
            return Response(status_code=403, headers=headers)
        asked = request.headers.get("access-control-request-headers", "")
        allowed = [h for h in (p.strip().lower() for p in asked.split(",")) if h in ALLOWED_HEADERS]
        headers.update(
            {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": "POST, OPTIONS",
                "Access-Control-Allow-Headers": ", ".join(allowed or ALLOWED_HEADERS[:1]),
                "Access-Control-Max-Age": str(MAX_AGE_S),
            }
        )
        return Response(status_code=204, headers=headers)
