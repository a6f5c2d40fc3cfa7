"""Consumer and query API settings: built once from the environment in each entry point."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from collector.settings import setting, settings_from_env


@dataclass(frozen=True)
class Settings:
    kafka_bootstrap: str = setting(
        "127.0.0.1:19092", "MICROCV_KAFKA_BOOTSTRAP", "Kafka bootstrap servers, comma-separated."
    )
    topic: str = setting("microcv.events.v1", "MICROCV_TOPIC", "Topic the events are read from.")
    dead_letter_topic: str = setting(
        "microcv.deadletter.v1",
        "MICROCV_DEAD_LETTER_TOPIC",
        "Where records that cannot be decoded go, with partition, offset and reason headers.",
    )
    group: str = setting("microcv.counters.v1", "MICROCV_GROUP", "Kafka consumer group.")
    redis_url: str = setting(
        "redis://127.0.0.1:16379/0", "MICROCV_REDIS_URL", "Redis holding the counters."
    )
    redis_cluster: bool = setting(
        False,
        "MICROCV_REDIS_CLUSTER",
        "Treat MICROCV_REDIS_URL as one node of a Redis Cluster (any node; the rest is found).",
    )
    metrics_port: int = setting(
        0,
        "MICROCV_WORKER_METRICS_PORT",
        "Port of the worker's Prometheus endpoint (/metrics); 0 turns it off.",
    )
    metrics_host: str = setting(
        "127.0.0.1", "MICROCV_WORKER_METRICS_HOST", "Address the worker's metrics endpoint binds."
    )
    sites_path: Path = setting(  # noqa: RUF009 - a Path is immutable, sharing it is safe
        Path("deploy/sites.toml"), "MICROCV_SITES", "Path of the sites config (TOML)."
    )
    max_batch: int = setting(
        2000,
        "MICROCV_MAX_BATCH",
        "Records per poll; small batches keep each apply far below the poll interval.",
    )
    poll_timeout_ms: int = setting(
        200, "MICROCV_POLL_TIMEOUT_MS", "How long one poll waits for records (ms)."
    )
    burst_idle_s: float = setting(
        2.0, "MICROCV_BURST_IDLE_S", "With --burst, exit once nothing arrived for this long (s)."
    )
    grace_s: float = setting(
        20.0, "MICROCV_GRACE_S", "On SIGTERM, finish the batch and stop within this long (s)."
    )
    api_host: str = setting("127.0.0.1", "MICROCV_API_HOST", "Address the query API binds.")
    api_port: int = setting(8602, "MICROCV_API_PORT", "Port the query API listens on.")
    redis_timeout_s: float = setting(
        5.0, "MICROCV_REDIS_TIMEOUT_S", "Bound on every Redis call (s)."
    )
    api_redis_connections: int = setting(
        16,
        "MICROCV_API_REDIS_CONNECTIONS",
        "Redis connections the query API keeps; a request waits up to the Redis timeout for one.",
    )
    api_stream_interval_s: float = setting(
        1.0, "MICROCV_API_STREAM_INTERVAL_S", "How often a live stream re-reads its counters (s)."
    )
    api_max_streams: int = setting(
        200, "MICROCV_API_MAX_STREAMS", "Live streams one API process serves at once; then 503."
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        return settings_from_env(cls, env)
