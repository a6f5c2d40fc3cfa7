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
    """The broker did not acknowledge everything in time; the caller must not answer 2xx for
    `unacked` unless it has put them somewhere safe."""

    def __init__(self, message: str, unacked: Sequence[Record]) -> None:
        super().__init__(message)
        self.unacked = list(unacked)


class EventProducer:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        # Records given up on (spooled) that Kafka acknowledged later all the same: each is a
        # duplicate in the topic that the consumers' event-id dedupe absorbs.
        self.late_acks = 0

    async def start(self) -> None:
        if self._producer is not None:
            return
        s = self._settings
        producer = AIOKafkaProducer(
            bootstrap_servers=s.kafka_bootstrap,
            acks="all",
            enable_idempotence=True,
            compression_type=None if s.compression == "none" else s.compression,
            linger_ms=s.linger_ms,
            # Half the bound: aiokafka may take twice this before it fails a batch, and a batch
            # that fails by itself is one we know was not written (no duplicate on replay).
            request_timeout_ms=max(1, int(s.produce_timeout_s * 500)),
            client_id="microcv-collector",
        )
        try:
            await asyncio.wait_for(producer.start(), timeout=s.produce_timeout_s * 3)
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def reachable(self) -> bool:
        """Whether the brokers answer a metadata request within the bound."""
        if self._producer is None:
            return False
        try:
            async with asyncio.timeout(self._settings.produce_timeout_s):
                return bool(await self._producer.client.force_metadata_update())
        except (TimeoutError, KafkaError):
            return False

    def _late(self, future: asyncio.Future[object]) -> None:
        if not future.cancelled() and future.exception() is None:
            self.late_acks += 1

    async def send_all(self, records: Sequence[Record]) -> None:
        """Send every record, then wait for all acknowledgements together, within the bound.

        Queueing all sends before awaiting any lets concurrent requests share producer batches.
        Raises ProduceError listing the records Kafka has not acknowledged.
        """
        if not records:
            return
        if self._producer is None:
            raise ProduceError("producer not started", records)
        topic = self._settings.topic
        futures: list[asyncio.Future[object]] = []
        try:
            async with asyncio.timeout(self._settings.produce_timeout_s):
                for r in records:
                    futures.append(
                        await self._producer.send(topic, encode_record(r), key=record_key(r))
                    )
                await asyncio.wait(futures)
        except (TimeoutError, KafkaError) as exc:
            error: BaseException | None = exc
        else:
            error = next((e for f in futures if (e := f.exception()) is not None), None)
            if error is None:
                return
        acked = [f.done() and f.exception() is None for f in futures]
        acked += [False] * (len(records) - len(acked))  # send() itself failed part-way
        for f in futures:
            if not f.done():
                f.add_done_callback(self._late)
        unacked = [r for r, ok in zip(records, acked, strict=True) if not ok]
        logger.warning("produce failed for %d of %d records: %r", len(unacked), len(records), error)
        raise ProduceError(str(error), unacked)
