"""What the CLI tests share: a collector process handle and a Kafka reader."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from collector.records import Record, decode_records


@dataclass(frozen=True)
class Collector:
    url: str
    topic: str
    sites: Path
    log: Path
    proc: subprocess.Popen[bytes]


StartCollector = Callable[..., Awaitable[Collector]]


async def read_records(
    bootstrap: str, topic: str, expected: int, wait_s: float = 30
) -> list[Record]:
    """Every record of `topic` from the start, once `expected` arrived or `wait_s` passed."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    records: list[Record] = []
    try:
        async with asyncio.timeout(wait_s):
            while len(records) < expected:
                batches = await consumer.getmany(timeout_ms=500)
                records += [
                    r for ms in batches.values() for m in ms for r in decode_records(m.value)
                ]
        # Anything more than expected (a duplicate) would arrive right behind.
        batches = await consumer.getmany(timeout_ms=1000)
        records += [r for ms in batches.values() for m in ms for r in decode_records(m.value)]
    except TimeoutError:
        pass
    finally:
        await consumer.stop()
    return records
