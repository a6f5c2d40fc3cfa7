"""What the lifespan hands every request: the Redis client, the sites, the settings, metrics."""

from __future__ import annotations

from typing import TypedDict, cast

from redis.asyncio import Redis
from starlette.requests import Request

from consumers.api.metrics import Metrics
from consumers.settings import Settings
from snippet.sites import Sites


class State(TypedDict):
    redis: Redis
    sites: Sites
    settings: Settings
    metrics: Metrics


def state_of(request: Request) -> State:
    return cast(State, request.scope["state"])
