"""The dead-letter topic: records a worker cannot count, kept with where they came from and why.

A record that cannot be decoded (or names a site the config does not know) must not stop its
partition: it is written to the dead-letter topic with its partition, offset and reason as
headers, and the partition moves on. Writes are awaited before the batch they belong to is
applied, so a replay that finds a later offset applied knows the record was dead-lettered.
"""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from consumers.metrics import WorkerMetrics
from consumers.shares import Poison

logger = logging.getLogger(__name__)


class DeadLetters:
    """A producer for the dead-letter topic; `start()`/`stop()` are safe to call twice."""

    def __init__(self, bootstrap: str, topic: str, metrics: WorkerMetrics) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._metrics = metrics
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        if self._producer is not None:
            return
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap, acks="all", enable_idempotence=True
        )
        await producer.start()
        self._producer = producer

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def write(self, poison: list[Poison], applied: int) -> None:
        """Write the records above `applied`, the partition's highest applied offset: those at
        or below it were dead-lettered before this replay."""
        for msg, reason in poison:
            if msg.offset > applied:
                await self._write(msg, reason)

    async def _write(self, msg: ConsumerRecord[bytes, bytes], reason: str) -> None:
        assert self._producer is not None, "DeadLetters.start() first"
        headers = [
            ("partition", str(msg.partition).encode()),
            ("offset", str(msg.offset).encode()),
            ("reason", reason.encode()),
        ]
        await self._producer.send_and_wait(self._topic, msg.value, key=msg.key, headers=headers)
        self._metrics.dead_letters[reason] += 1
        logger.warning("dead letter: partition %d offset %d: %s", msg.partition, msg.offset, reason)
