"""Collector settings: built once from the environment in the entry point and passed down.

Every field names its environment variable and says what it is for, in the field's metadata;
`settings_from_env` reads them and the configuration reference is generated from them.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
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
    produce_timeout_s: float = setting(
        10.0,
        "MICROCV_PRODUCE_TIMEOUT_S",
        "Bound on every wait for the broker; a request never hangs longer than this on Kafka.",
    )
    linger_ms: int = setting(
        5, "MICROCV_LINGER_MS", "How long the producer waits to fill a batch (ms)."
    )
    visitor_secret: bytes = setting(
        b"",
        "MICROCV_VISITOR_SECRET",
        "Secret mixed into the daily visitor-id salt. Random per process when empty; several "
        "collectors behind one balancer must share it.",
    )

    def __post_init__(self) -> None:
        if not self.visitor_secret:
            object.__setattr__(self, "visitor_secret", secrets.token_bytes(32))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        return settings_from_env(cls, env)
