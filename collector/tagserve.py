"""Serve each site's tracker: GET /v1/tag/<site>.js, with ETag, Cache-Control and 304s.

Every site's script is rendered once, when the routes are built, by the same generator that
renders the loader and its SRI hash (snippet/generator.py), so the bytes served are the bytes
the hash was taken of. The served script has no collector URL in it: it posts to the collector
it was loaded from, so one collector behind several host names serves one script per site.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from snippet.generator import TAG_PATH, render_script
from snippet.sites import Sites, SitesConfigError

logger = logging.getLogger(__name__)

# Short enough that a changed config reaches visitors within minutes (the ETag makes the
# revalidation cheap); browsers and CDNs may keep serving it while they revalidate.
CACHE_CONTROL: Final = "public, max-age=300, stale-while-revalidate=86400"
MEDIA_TYPE: Final = "text/javascript; charset=utf-8"

Reject = Callable[[Request, str], None]


@dataclass(frozen=True, slots=True)
class Script:
    body: bytes
    etag: str


def render_scripts(sites: Sites, collector_url: str | None = None) -> dict[str, Script]:
    """Site id -> its tracker. A site whose tag options are invalid is logged and left out."""
    scripts: dict[str, Script] = {}
    for site in sites:
        try:
            body = render_script(site, collector_url).encode()
        except SitesConfigError as exc:
            logger.error("no tag for site %s: %s", site.id, exc)
            continue
        scripts[site.id] = Script(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    return scripts


def _matches(if_none_match: str, etag: str) -> bool:
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


def tag_routes(
    sites: Sites, collector_url: str | None = None, reject: Reject | None = None
) -> list[Route]:
    """The tag route. `collector_url` fills in a fixed beacon endpoint (by default the script
    posts to where it was loaded from); `reject` counts refusals in the caller's metrics."""
    scripts = render_scripts(sites, collector_url)

    async def serve(request: Request) -> Response:
        script = scripts.get(request.path_params["site"])
        if script is None:
            if reject is not None:
                reject(request, "unknown_tag_site")
            return JSONResponse({"error": "unknown_tag_site"}, status_code=404)
        headers = {
            "ETag": script.etag,
            "Cache-Control": CACHE_CONTROL,
            # crossorigin="anonymous" (needed for SRI) makes it a CORS request.
            "Access-Control-Allow-Origin": "*",
            "Cross-Origin-Resource-Policy": "cross-origin",
            "X-Content-Type-Options": "nosniff",
        }
        if _matches(request.headers.get("if-none-match", ""), script.etag):
            return Response(status_code=304, headers=headers)
        return Response(script.body, media_type=MEDIA_TYPE, headers=headers)

    return [Route(TAG_PATH, serve, methods=["GET", "HEAD"])]
