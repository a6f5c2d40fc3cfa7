"""Read access: each site's Bearer read tokens from the sites config.

A missing token (or another scheme, e.g. Basic) is 401 with a `WWW-Authenticate: Bearer`
challenge, a token the site does not list is 403; either way no data is read.
Site ids are public (every page's tag carries one), so an unknown site may say so with 404.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request

from consumers.api.errors import ApiError
from consumers.api.state import state_of
from snippet.sites import Site


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    # Another scheme is no Bearer token at all: the client should be told which one to use.
    if scheme.lower() != "bearer":
        return None
    return token.strip()


def authorize(request: Request) -> Site:
    """The site named in the path, once the request's Bearer token is one of its read tokens."""
    site = state_of(request)["sites"].get(request.path_params["site"])
    if site is None:
        raise ApiError(404, "unknown_site", "no site with this id in the sites config")
    token = _token(request)
    if token is None:
        raise ApiError(
            401,
            "missing_token",
            "send Authorization: Bearer <read token>",
            headers={"WWW-Authenticate": 'Bearer realm="microcv"'},
        )
    # Compare against every token, so the time taken does not tell which one nearly matched.
    matches = [hmac.compare_digest(token.encode(), t.encode()) for t in site.read_tokens]
    if not token or not any(matches):
        raise ApiError(403, "bad_token", "this token may not read this site")
    return site
