"""One way to reach Redis, a single node or a Redis Cluster, for the worker and the query API.

Every key of a site shares the site's hash tag (consumers.keys), so on a cluster all the keys one
script or one read touches live in one slot; the same calls work on both.
"""

from __future__ import annotations

from typing import TypeAlias

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline, RedisCluster

from consumers.settings import Settings

AnyRedis: TypeAlias = Redis | RedisCluster
AnyPipeline: TypeAlias = Pipeline | ClusterPipeline


def connect(settings: Settings) -> AnyRedis:
    """A client for `settings.redis_url`; a cluster client when `redis_cluster` is set."""
    timeout = settings.redis_timeout_s
    if settings.redis_cluster:
        return RedisCluster.from_url(
            settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
    return Redis.from_url(
        settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
    )


def pipeline(redis: AnyRedis) -> AnyPipeline:
    """A non-transactional pipeline: one round trip per node for many commands."""
    if isinstance(redis, RedisCluster):
        return redis.pipeline()
    return redis.pipeline(transaction=False)
