"""The Kafka side of the collector: an idempotent, acks=all producer with bounded waits."""

from __future__ import annotations

import asyncio
import functools
import logging
import zlib
from collections.abc import Iterator, Sequence
from typing import Final

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    KafkaError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)

from collector.schema import MAX_EVENTS, Record, encode_batch
from collector.settings import Settings

logger = logging.getLogger(__name__)

# Errors after which aiokafka's idempotent producer stays broken: its sequence numbers no longer
# match the broker's (seen after a broker restart) and it never asks for a new producer id, so
# every later send fails the same way (aiokafka issue #1017). Only a new producer recovers.
WEDGED: Final = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch, ProducerFenced)

# How many late-acknowledged event ids are remembered for the replayer to skip.
MAX_LATE_IDS: Final = 200_000

# A batch record's bound, well under Kafka's default message size limit (1 MiB). One request's
# events stay under it (its body is bounded); only a replay's groups are ever split.
MAX_BATCH_BYTES: Final = 512 * 1024


class ProduceError(Exception):
    """The broker did not acknowledge everything in time; the caller must not answer 2xx for
    `unacked` unless it has put them somewhere safe. `acked[i]` says whether the i-th record
    sent was acknowledged."""

    def __init__(self, message: str, records: Sequence[Record], acked: Sequence[bool]) -> None:
        super().__init__(message)
        self.acked = list(acked)
        self.unacked = [r for r, ok in zip(records, self.acked, strict=True) if not ok]


class EventProducer:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._replacing: asyncio.Task[None] | None = None
        self.replaced = 0
        # Records given up on (spooled) that Kafka acknowledged later all the same: each is a
        # duplicate in the topic that the consumers' event-id dedupe absorbs.
        self.late_acks = 0
        # Sends given up on but still in flight, and the (site, event id) of those Kafka took
        # late: the spool replayer waits for the first to settle and skips the second, so a
        # late acknowledgement does not become a duplicate. Bounded: oldest ids leave first.
        self._in_flight_late: set[asyncio.Future[object]] = set()
        self.late_acked: dict[tuple[str, str], None] = {}

    async def start(self) -> None:
        if self._producer is not None:
            return
        self._producer = await self._new_producer()

    async def _new_producer(self) -> AIOKafkaProducer:
        s = self._settings
        producer = AIOKafkaProducer(
            bootstrap_servers=s.kafka_bootstrap,
            acks="all",
            enable_idempotence=True,
            compression_type=None if s.compression == "none" else s.compression,
            linger_ms=s.linger_ms,
            max_batch_size=s.max_batch_bytes,
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
        return producer

    async def stop(self) -> None:
        replacing, self._replacing = self._replacing, None
        if replacing is not None:
            replacing.cancel()
            await asyncio.gather(replacing, return_exceptions=True)
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    def _replace(self, wedged: AIOKafkaProducer) -> None:
        """Swap in a new producer (a new producer id) once for a wedged one, in the background:
        the failing request is answered from the spool meanwhile, and later ones use the new
        producer as soon as it is up."""
        if self._replacing is not None or self._producer is not wedged:
            return
        self._replacing = asyncio.create_task(self._replace_now(wedged))

    async def _replace_now(self, wedged: AIOKafkaProducer) -> None:
        delay = 0.5
        try:
            while self._producer is wedged:
                try:
                    fresh = await self._new_producer()
                except (TimeoutError, KafkaError) as exc:
                    logger.warning("new producer failed (%r); retrying in %.1f s", exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)
                    continue
                self._producer = fresh
                self.replaced += 1
                logger.warning("replaced a producer wedged by a sequence error")
            try:
                await wedged.stop()
            except KafkaError as exc:
                logger.info("stopping the wedged producer: %r", exc)
        finally:
            self._replacing = None

    async def reachable(self) -> bool:
        """Whether the brokers answer a metadata request within the bound."""
        if self._producer is None:
            return False
        try:
            async with asyncio.timeout(self._settings.produce_timeout_s):
                return bool(await self._producer.client.force_metadata_update())
        except (TimeoutError, KafkaError):
            return False

    async def settle_late(self, within: float) -> None:
        """Wait up to `within` s for the sends given up on to succeed or fail."""
        if self._in_flight_late:
            await asyncio.wait(set(self._in_flight_late), timeout=within)

    def _late(self, ids: list[tuple[str, str]], future: asyncio.Future[object]) -> None:
        self._in_flight_late.discard(future)
        if not future.cancelled() and future.exception() is None:
            self.late_acks += len(ids)
            self.late_acked.update(dict.fromkeys(ids))
            while len(self.late_acked) > MAX_LATE_IDS:
                del self.late_acked[next(iter(self.late_acked))]

    async def send_all(self, records: Sequence[Record]) -> None:
        """Send every record, then wait for all acknowledgements together, within the bound.

        The records of one key (site + visitor: one request's, usually) go as one batch record,
        so a request costs the producer one message whatever its number of events. Queueing all
        sends before awaiting any lets concurrent requests share producer batches.
        Raises ProduceError saying which records Kafka has not acknowledged.
        """
        if not records:
            return
        producer = self._producer
        if producer is None:
            raise ProduceError("producer not started", records, [False] * len(records))
        topic = self._settings.topic
        groups = _by_key(records)
        sent: list[list[int]] = []
        futures: list[asyncio.Future[object]] = []
        try:
            async with asyncio.timeout(self._settings.produce_timeout_s):
                partitions = len(await producer.partitions_for(topic))
                for group, value in _encoded(records, groups):
                    first = records[group[0]]
                    key = f"{first.site}|{first.visitor}".encode()
                    # zlib's C crc32 instead of aiokafka's pure-Python murmur2: the same job (a
                    # key always lands on one partition) for a fraction of the time.
                    futures.append(
                        await producer.send(
                            topic, value, key=key, partition=zlib.crc32(key) % partitions
                        )
                    )
                    sent.append(group)
                await asyncio.wait(futures)
        except (TimeoutError, KafkaError) as exc:
            error: BaseException | None = exc
        else:
            error = next((e for f in futures if (e := f.exception()) is not None), None)
            if error is None:
                return
        if isinstance(error, WEDGED) or any(
            f.done() and not f.cancelled() and isinstance(f.exception(), WEDGED) for f in futures
        ):
            self._replace(producer)
        acked = [False] * len(records)
        for group, f in zip(sent, futures, strict=True):
            if f.done() and f.exception() is None:
                for i in group:
                    acked[i] = True
            elif not f.done():
                self._in_flight_late.add(f)
                ids = [(records[i].site, records[i].id) for i in group]
                f.add_done_callback(functools.partial(self._late, ids))
        failure = ProduceError(str(error), records, acked)
        logger.warning(
            "produce failed for %d of %d records: %r", len(failure.unacked), len(records), error
        )
        raise failure


def _by_key(records: Sequence[Record]) -> list[list[int]]:
    """Indices of the records grouped by key, in order, each group at most MAX_EVENTS long (a
    batch record stays far below Kafka's message size limit)."""
    first = records[0]
    if len(records) <= MAX_EVENTS and all(
        r.visitor == first.visitor and r.site == first.site for r in records
    ):
        return [list(range(len(records)))]  # one request's events: the usual case
    groups: dict[tuple[str, str], list[list[int]]] = {}
    for i, r in enumerate(records):
        chunks = groups.setdefault((r.site, r.visitor), [[]])
        if len(chunks[-1]) == MAX_EVENTS:
            chunks.append([])
        chunks[-1].append(i)
    return [chunk for chunks in groups.values() for chunk in chunks]


def _encoded(
    records: Sequence[Record], groups: list[list[int]]
) -> Iterator[tuple[list[int], bytes]]:
    """Each group as one batch record, halved until it fits MAX_BATCH_BYTES (only a replay, which
    joins requests of one visitor, can come near it)."""
    for group in groups:
        value = encode_batch([records[i] for i in group])
        if len(value) > MAX_BATCH_BYTES and len(group) > 1:
            half = len(group) // 2
            yield from _encoded(records, [group[:half], group[half:]])
        else:
            yield group, value
