"""Collector settings: built once from the environment in the entry point and passed down."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    kafka_bootstrap: str = "127.0.0.1:19092"
    topic: str = "microcv.events.v1"
    sites_path: Path = Path("deploy/sites.toml")
    host: str = "127.0.0.1"
    port: int = 8601
    # Bound on every wait for the broker: a request never hangs longer than this on Kafka.
    produce_timeout_s: float = 10.0
    linger_ms: int = 5
    # Secret mixed into the daily visitor-id salt; random per process unless set, which is fine
    # for one collector but several collectors behind a balancer must share it.
    visitor_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        secret = env.get("MICROCV_VISITOR_SECRET")
        return cls(
            kafka_bootstrap=env.get("MICROCV_KAFKA_BOOTSTRAP", cls.kafka_bootstrap),
            topic=env.get("MICROCV_TOPIC", cls.topic),
            sites_path=Path(env.get("MICROCV_SITES", str(cls.sites_path))),
            host=env.get("MICROCV_COLLECTOR_HOST", cls.host),
            port=int(env.get("MICROCV_COLLECTOR_PORT", cls.port)),
            produce_timeout_s=float(env.get("MICROCV_PRODUCE_TIMEOUT_S", cls.produce_timeout_s)),
            linger_ms=int(env.get("MICROCV_LINGER_MS", cls.linger_ms)),
            **({"visitor_secret": secret.encode()} if secret else {}),
        )
