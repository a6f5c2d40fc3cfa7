"""The Kafka side of the collector: an idempotent, acks=all producer with bounded waits."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from collector.schema import Record, encode_record, record_key
from collector.settings import Settings

logger = logging.getLogger(__name__)


class ProduceError(Exception):
    """The broker did not acknowledge in time; the caller must not answer 2xx."""


class EventProducer:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        if self._producer is not None:
            return
        producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.kafka_bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=self._settings.linger_ms,
            request_timeout_ms=int(self._settings.produce_timeout_s * 1000),
            client_id="microcv-collector",
        )
        await asyncio.wait_for(producer.start(), timeout=self._settings.produce_timeout_s * 3)
        self._producer = producer

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def send_all(self, records: Sequence[Record]) -> None:
        """Send every record, then wait for all acknowledgements together.

        Queueing all sends before awaiting any lets concurrent requests share producer batches.
        """
        if self._producer is None:
            raise ProduceError("producer not started")
        topic = self._settings.topic
        try:
            async with asyncio.timeout(self._settings.produce_timeout_s):
                futures = [
                    await self._producer.send(topic, encode_record(r), key=record_key(r))
                    for r in records
                ]
                await asyncio.gather(*futures)
        except (TimeoutError, KafkaError) as exc:
            logger.warning("produce failed: %r", exc)
            raise ProduceError(str(exc)) from exc
