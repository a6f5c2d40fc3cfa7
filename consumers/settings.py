"""Consumer and query API settings: built once from the environment in each entry point."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    kafka_bootstrap: str = "127.0.0.1:19092"
    topic: str = "microcv.events.v1"
    dead_letter_topic: str = "microcv.deadletter.v1"
    group: str = "microcv.counters.v1"
    redis_url: str = "redis://127.0.0.1:16379/0"
    sites_path: Path = Path("deploy/sites.toml")
    # Small batches keep each apply far below the poll interval and the counters fresh.
    max_batch: int = 2000
    poll_timeout_ms: int = 200
    # Burst mode: exit once no record has arrived for this long (tests, backfills).
    burst_idle_s: float = 2.0
    grace_s: float = 20.0
    api_host: str = "127.0.0.1"
    api_port: int = 8602
    redis_timeout_s: float = 5.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        return cls(
            kafka_bootstrap=env.get("MICROCV_KAFKA_BOOTSTRAP", cls.kafka_bootstrap),
            topic=env.get("MICROCV_TOPIC", cls.topic),
            dead_letter_topic=env.get("MICROCV_DEAD_LETTER_TOPIC", cls.dead_letter_topic),
            group=env.get("MICROCV_GROUP", cls.group),
            redis_url=env.get("MICROCV_REDIS_URL", cls.redis_url),
            sites_path=Path(env.get("MICROCV_SITES", str(cls.sites_path))),
            max_batch=int(env.get("MICROCV_MAX_BATCH", cls.max_batch)),
            grace_s=float(env.get("MICROCV_GRACE_S", cls.grace_s)),
            api_host=env.get("MICROCV_API_HOST", cls.api_host),
            api_port=int(env.get("MICROCV_API_PORT", cls.api_port)),
        )
