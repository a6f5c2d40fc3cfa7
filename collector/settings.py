"""Collector settings: built once from the environment in the entry point and passed down.

Every field names its environment variable and says what it is for, in the field's metadata;
`settings_from_env` reads them and the configuration reference is generated from them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def setting(default: Any, env: str, doc: str) -> Any:
    """A settings field with its environment variable and its one-line description."""
    return field(default=default, metadata={"env": env, "doc": doc})


def settings_from_env(cls: type[T], env: Mapping[str, str] | None = None) -> T:
    """Build a settings dataclass from the variables its fields name; absent ones keep defaults."""
    source = os.environ if env is None else env
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        name = f.metadata.get("env")
        if name is None or name not in source:
            continue
        raw = source[name]
        kind: Any = type(f.default)
        try:
            if kind is bool:
                values[f.name] = raw.strip().lower() in {"1", "true", "yes", "on"}
            elif kind is bytes:
                values[f.name] = raw.encode()
            elif kind is tuple:
                values[f.name] = tuple(p.strip() for p in raw.split(",") if p.strip())
            else:
                values[f.name] = kind(raw)
        except ValueError as exc:
            raise ValueError(f"{name}={raw!r}: {exc}") from None
    return cls(**values)


@dataclass(frozen=True)
class Settings:
    kafka_bootstrap: str = setting(
        "127.0.0.1:19092", "MICROCV_KAFKA_BOOTSTRAP", "Kafka bootstrap servers, comma-separated."
    )
    topic: str = setting("microcv.events.v1", "MICROCV_TOPIC", "Topic the events are produced to.")
    sites_path: Path = setting(  # noqa: RUF009 - a Path is immutable, sharing it is safe
        Path("deploy/sites.toml"), "MICROCV_SITES", "Path of the sites config (TOML)."
    )
    host: str = setting("127.0.0.1", "MICROCV_COLLECTOR_HOST", "Address the collector binds.")
    port: int = setting(8601, "MICROCV_COLLECTOR_PORT", "Port the collector listens on.")
    workers: int = setting(
        1,
        "MICROCV_COLLECTOR_WORKERS",
        "Processes serving the port (one per core the collector may use); each has its own "
        "producer, spool slot and rate-limit buckets.",
    )
    produce_timeout_s: float = setting(
        5.0,
        "MICROCV_PRODUCE_TIMEOUT_S",
        "Bound on every wait for the broker (s); past it a request's events go to the disk spool.",
    )
    linger_ms: int = setting(
        5, "MICROCV_LINGER_MS", "How long the producer waits to fill a batch (ms)."
    )
    max_batch_bytes: int = setting(
        512 * 1024,
        "MICROCV_MAX_BATCH_BYTES",
        "Producer batch size per partition (bytes); one batch per partition is in flight at a "
        "time, so this bounds throughput per round trip. Keep it under the broker's "
        "message.max.bytes.",
    )
    compression: str = setting(
        "lz4", "MICROCV_COMPRESSION", "Producer compression: lz4, zstd, gzip or none."
    )
    redis_url: str = setting(
        "redis://127.0.0.1:16379/0",
        "MICROCV_REDIS_URL",
        "Redis holding the daily visitor-id salts that every collector shares.",
    )
    redis_timeout_s: float = setting(
        2.0, "MICROCV_REDIS_TIMEOUT_S", "Bound on every Redis call (s); never on a request's path."
    )
    visitor_secret: bytes = setting(
        b"",
        "MICROCV_VISITOR_SECRET",
        "Optional pepper mixed into the visitor-id hash, kept out of Redis; when set, every "
        "collector must have the same one.",
    )
    trusted_proxies: tuple[str, ...] = setting(
        (),
        "MICROCV_TRUSTED_PROXIES",
        "CIDRs of the proxies whose X-Forwarded-For is believed, comma-separated; empty: none.",
    )
    client_rate: float = setting(
        50.0, "MICROCV_CLIENT_RATE", "Requests per second one client IP may send; 0: no limit."
    )
    client_burst: int = setting(
        200, "MICROCV_CLIENT_BURST", "Requests one client IP may send at once above its rate."
    )
    site_rate: float = setting(
        20000.0, "MICROCV_SITE_RATE", "Events per second one site may send; 0: no limit."
    )
    site_burst: int = setting(
        100000, "MICROCV_SITE_BURST", "Events one site may send at once above its rate."
    )
    body_timeout_s: float = setting(
        10.0,
        "MICROCV_BODY_TIMEOUT_S",
        "A request's headers, and then its body, must each arrive whole within this long (s); "
        "else 408.",
    )
    spool_dir: Path = setting(  # noqa: RUF009 - a Path is immutable, sharing it is safe
        Path(".run/spool"),
        "MICROCV_SPOOL_DIR",
        "Disk spool for events Kafka could not take; each port (each worker) gets its own "
        "subfolder.",
    )
    spool_max_bytes: int = setting(
        1 << 30,
        "MICROCV_SPOOL_MAX_BYTES",
        "Spool size limit; past it the collector answers 503 with Retry-After.",
    )
    spool_segment_bytes: int = setting(
        16 << 20, "MICROCV_SPOOL_SEGMENT_BYTES", "Size at which a spool segment file is closed."
    )
    grace_s: float = setting(
        20.0,
        "MICROCV_GRACE_S",
        "On SIGTERM, finish in-flight requests within this long (s); the producer's flush then "
        "gets at most one produce timeout more.",
    )

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"MICROCV_COLLECTOR_WORKERS={self.workers}: at least 1")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        return settings_from_env(cls, env)
