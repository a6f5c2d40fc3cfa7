"""Settings of the `microcv` operations CLI (Kafka and Redis ones come from consumers.settings)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from collector.settings import setting, settings_from_env


@dataclass(frozen=True)
class OpsSettings:
    partitions: int = setting(
        6,
        "MICROCV_PARTITIONS",
        "Partitions `microcv topics create` gives the events topic: the most consumer workers "
        "that can share the work.",
    )
    replication: int = setting(
        1,
        "MICROCV_REPLICATION_FACTOR",
        "Replication factor of the topics `microcv topics create` makes (3 on a real cluster).",
    )
    collector_url: str = setting(
        "http://127.0.0.1:8601",
        "MICROCV_COLLECTOR_URL",
        "The collector's base URL, for `microcv replay` and the tag.",
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OpsSettings:
        return settings_from_env(cls, env)
