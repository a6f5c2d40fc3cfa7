"""Errors at the API's boundary: every refusal is a short JSON reason with a 4xx or a 503.

Handlers turn `ApiError` into its answer and a Redis failure into 503, and count each reason in
the metrics, so bad input and an unavailable store are visible without a log line per request.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from consumers.api.state import state_of

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """A request the API refuses: `status` and a stable `reason` (a metric label)."""

    def __init__(
        self, status: int, reason: str, detail: str = "", headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {reason}: {detail}")
        self.status = status
        self.reason = reason
        self.detail = detail
        self.headers = headers


def error_response(
    status: int, reason: str, detail: str = "", headers: dict[str, str] | None = None
) -> JSONResponse:
    if status == 503:
        headers = {**(headers or {}), "Retry-After": "1"}
    return JSONResponse({"error": reason, "detail": detail}, status_code=status, headers=headers)


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    state_of(request)["metrics"].refuse(exc.reason)
    return error_response(exc.status, exc.reason, exc.detail, exc.headers)


async def store_unavailable(request: Request, exc: Exception) -> Response:
    # One line per failing request is acceptable: it only happens while Redis is down.
    logger.warning("redis unavailable: %r", exc)
    state_of(request)["metrics"].refuse("store_unavailable")
    return error_response(503, "store_unavailable", "the counter store did not answer")


HANDLERS = {ApiError: api_error, RedisError: store_unavailable}
