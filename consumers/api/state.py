"""What the lifespan hands every request: the Redis client, the sites, the settings, metrics."""

from __future__ import annotations

from typing import TypedDict, cast

from starlette.requests import Request

from consumers.api.metrics import Metrics
from consumers.config import SiteConfig
from consumers.redisconn import AnyRedis
from consumers.settings import Settings
from snippet.sites import Sites


class State(TypedDict):
    redis: AnyRedis
    sites: Sites
    configs: dict[str, SiteConfig]  # micro-conversions, funnels, experiments per site id
    settings: Settings
    metrics: Metrics


def state_of(request: Request) -> State:
    return cast(State, request.scope["state"])
