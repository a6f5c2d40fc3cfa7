"""The Kafka side of the collector: an idempotent, acks=all producer with bounded waits."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import zlib
from collections.abc import Collection, Iterator, Sequence
from typing import Final

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    BrokerResponseError,
    InvalidProducerEpoch,
    KafkaError,
    KafkaTimeoutError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)

from collector.records import Record, encode_batch
from collector.schema import MAX_EVENTS
from collector.settings import Settings

logger = logging.getLogger(__name__)

# Errors after which aiokafka's idempotent producer stays broken: its sequence numbers no longer
# match the broker's (seen after a broker restart) and it never asks for a new producer id, so
# every later send fails the same way (aiokafka issue #1017). Only a new producer recovers.
WEDGED: Final = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch, ProducerFenced)

# How many first sends of spooled records are remembered for the replayer (see first_sends).
MAX_GIVEN_UP: Final = 200_000

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
        self._connecting: asyncio.Task[None] | None = None
        self.replaced = 0
        # Records given up on (spooled) that Kafka acknowledged later all the same.
        self.late_acks = 0
        # Spooled records resent although their first send's fate was unknown (it failed in a
        # way that does not say whether the broker wrote it): possible duplicates.
        self.uncertain_resends = 0
        # The first send of every record send_all gave up on, by (site, event id), until the
        # replayer has read its outcome: the replayer never sends an id whose first send has
        # not settled, and skips it if that send succeeded. Bounded: oldest entries leave first.
        self._given_up: dict[tuple[str, str], asyncio.Future[object]] = {}

    @property
    def connected(self) -> bool:
        return self._producer is not None

    async def start(self) -> None:
        """Connect to Kafka; when it does not answer, keep trying in the background (events go
        to the spool meanwhile) instead of failing the collector's start."""
        if self._producer is not None or self._connecting is not None:
            return
        try:
            self._producer = await self._new_producer()
        except (TimeoutError, KafkaError) as exc:
            logger.warning("Kafka unreachable at start-up (%r); spooling until it answers", exc)
            self._connecting = asyncio.create_task(self._swap(None), name="kafka-connect")

    async def _new_producer(self) -> AIOKafkaProducer:
        s = self._settings
        producer = AIOKafkaProducer(
            bootstrap_servers=s.kafka_bootstrap,
            acks="all",
            enable_idempotence=True,
            compression_type=None if s.compression == "none" else s.compression,
            linger_ms=s.linger_ms,
            max_batch_size=s.max_batch_bytes,
            # A stalled request is abandoned after this and sent again (same producer id and
            # sequence number: the broker writes it once).
            request_timeout_ms=max(1, int(s.produce_timeout_s * 500)),
            client_id="microcv-collector",
        )
        _never_expire(producer)
        _throttle_metadata(producer)
        try:
            await asyncio.wait_for(producer.start(), timeout=s.produce_timeout_s * 3)
        except BaseException:
            await producer.stop()
            raise
        return producer

    async def stop(self, grace_s: float = math.inf) -> bool:
        """Flush and close; False when the broker did not take everything within `grace_s`.
        Past it the rest fails (its events are in the spool: collector/ingest.py) and the
        connections close all the same: no client keeps retrying after the collector stopped."""
        connecting, self._connecting = self._connecting, None
        if connecting is not None:
            connecting.cancel()
            await asyncio.gather(connecting, return_exceptions=True)
        producer, self._producer = self._producer, None
        return True if producer is None else await _close(producer, grace_s)

    def _replace(self, wedged: AIOKafkaProducer) -> None:
        """Swap in a new producer (a new producer id) once for a wedged one, in the background:
        the failing request is answered from the spool meanwhile, and later ones use the new
        producer as soon as it is up."""
        if self._connecting is not None or self._producer is not wedged:
            return
        self._connecting = asyncio.create_task(self._swap(wedged), name="kafka-replace")

    async def _swap(self, old: AIOKafkaProducer | None) -> None:
        delay = 0.5
        try:
            while self._producer is old:
                try:
                    fresh = await self._new_producer()
                except (TimeoutError, KafkaError) as exc:
                    logger.warning("new producer failed (%r); retrying in %.1f s", exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 10.0)
                    continue
                self._producer = fresh
                if old is None:
                    logger.info("connected to Kafka")
                else:
                    self.replaced += 1
                    logger.warning("replaced a producer wedged by a sequence error")
            if old is not None:
                # stop() waits for every batch still in the old producer to settle (a wedged
                # producer's batches are refused by the broker): the replayer reads each one's
                # outcome before it resends anything.
                try:
                    await _close(old, math.inf)
                except KafkaError as exc:
                    logger.info("stopping the wedged producer: %r", exc)
        finally:
            self._connecting = None

    async def reachable(self) -> bool:
        """Whether the brokers answer a metadata request within the bound."""
        if self._producer is None:
            return False
        try:
            async with asyncio.timeout(self._settings.produce_timeout_s):
                return bool(await self._producer.client.force_metadata_update())
        except (TimeoutError, KafkaError):
            return False

    async def first_sends(
        self, keys: Collection[tuple[str, str]], within: float
    ) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        """For spooled records about to be resent: wait up to `within` s for the first sends of
        these (site, id) keys to settle, and say which Kafka wrote (skip them) and which are
        still unsettled (do not send them yet). The others may be sent: their first send never
        happened or failed definitely (a resend after an uncertain failure is counted)."""
        pending = {f for k in keys if (f := self._given_up.get(k)) is not None and not f.done()}
        if pending:
            await asyncio.wait(pending, timeout=within)
        written: set[tuple[str, str]] = set()
        unsettled: set[tuple[str, str]] = set()
        for key in keys:
            future = self._given_up.get(key)
            if future is None:
                continue
            if not future.done():
                unsettled.add(key)
                continue
            del self._given_up[key]
            error = None if future.cancelled() else future.exception()
            if not future.cancelled() and error is None:
                written.add(key)
            elif error is None or not _definite(error):
                self.uncertain_resends += 1
                logger.warning("resending %s/%s: its first send's fate is unknown", *key)
        return written, unsettled

    def _give_up(self, keys: list[tuple[str, str]], future: asyncio.Future[object]) -> None:
        for key in keys:
            self._given_up[key] = future
        while len(self._given_up) > MAX_GIVEN_UP:
            del self._given_up[next(iter(self._given_up))]
        if not future.done():
            future.add_done_callback(functools.partial(self._late, len(keys)))

    def _late(self, count: int, future: asyncio.Future[object]) -> None:
        if not future.cancelled() and future.exception() is None:
            self.late_acks += count

    async def send_all(self, records: Sequence[Record]) -> None:
        """Send every record, then wait for all acknowledgements together, within the bound.

        The records of one key (site + visitor: one request's, usually) go as one batch record,
        so a request costs the producer one message whatever its number of events. Queueing all
        sends before awaiting any lets concurrent requests share producer batches.
        Raises ProduceError saying which records Kafka has not acknowledged; the sends of those
        are remembered (see first_sends).
        """
        if not records:
            return
        producer = self._producer
        if producer is None:
            raise ProduceError("not connected to Kafka", records, [False] * len(records))
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
                await _all_settled(futures)
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
            else:
                self._give_up([(records[i].site, records[i].id) for i in group], f)
        failure = ProduceError(str(error), records, acked)
        logger.warning(
            "produce failed for %d of %d records: %r", len(failure.unacked), len(records), error
        )
        raise failure


def _all_settled(futures: list[asyncio.Future[object]]) -> asyncio.Future[None]:
    """A future done once all of `futures` are. Cancelling it (the bound running out) leaves
    them be, as asyncio.wait does, for about half of asyncio.wait's cost on the request path."""
    waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    pending = len(futures)

    def one_settled(_: asyncio.Future[object]) -> None:
        nonlocal pending
        pending -= 1
        if pending == 0 and not waiter.done():
            waiter.set_result(None)

    for future in futures:
        future.add_done_callback(one_settled)
    if not futures:
        waiter.set_result(None)
    return waiter


def _never_expire(producer: AIOKafkaProducer) -> None:
    """Keep aiokafka from expiring batches that wait for a partition leader.

    aiokafka fails such a batch once it is older than request_timeout_ms, even one it already
    sent before the broker went away: whether the broker wrote it is then unknown, and the
    sequence number it took leaves a gap that wedges the producer (aiokafka #1017). Without the
    expiry an idempotent producer retries every batch until the broker writes it (once) or
    refuses it: each send's outcome is definite. No public setting reaches this; a test checks
    the attribute is still there.
    """
    accumulator = producer._message_accumulator
    if not hasattr(accumulator, "_batch_ttl"):
        raise RuntimeError("aiokafka changed: MessageAccumulator._batch_ttl is gone")
    accumulator._batch_ttl = math.inf


# Waits between metadata updates while they keep failing, doubling from the first to the last.
METADATA_BACKOFF_S: Final = (0.1, 2.0)


def _throttle_metadata(producer: AIOKafkaProducer) -> None:
    """Keep aiokafka from asking unreachable brokers for metadata in a busy loop.

    While a batch waits for a partition leader, aiokafka's sender asks for metadata again as
    soon as an update fails, with no backoff: with the brokers down after a clean shutdown (no
    leaders) and batches that never expire (above) that was ~4,500 attempts, 9,000 log lines and
    a busy core a second, for the whole outage. After a failed update, callers within the backoff
    get False when it ends, without a new attempt; the backoff doubles while updates fail and is
    reset by one that succeeds. No public setting reaches this either.
    """
    client = producer.client
    update = client.force_metadata_update
    loop = asyncio.get_running_loop()
    first, last = METADATA_BACKOFF_S
    backoff = {"until": 0.0, "next": first}

    def settled(future: asyncio.Future[bool]) -> None:
        if future.cancelled() or future.exception() is not None or not future.result():
            backoff["until"] = loop.time() + backoff["next"]
            backoff["next"] = min(backoff["next"] * 2, last)
        else:
            backoff["next"] = first

    def throttled() -> asyncio.Future[bool]:
        wait = backoff["until"] - loop.time()
        if wait <= 0:
            future: asyncio.Future[bool] = update()
            future.add_done_callback(settled)
            return future
        later: asyncio.Future[bool] = loop.create_future()
        loop.call_later(wait, _resolve, later, False)
        return later

    client.force_metadata_update = throttled


def _resolve(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)


def _definite(error: BaseException) -> bool:
    """Whether a failed send is known not to be in Kafka: the broker refused the batch (for an
    idempotent producer, a retry of a batch it had written is answered as a success)."""
    return isinstance(error, BrokerResponseError) and not error.retriable


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


async def _close(producer: AIOKafkaProducer, grace_s: float) -> bool:
    """Stop `producer`, waiting at most `grace_s` for its batches; False when some failed."""
    closing = asyncio.ensure_future(producer.stop())
    try:
        async with asyncio.timeout(None if math.isinf(grace_s) else grace_s):
            await asyncio.shield(closing)
        return True
    except TimeoutError:
        pass
    except asyncio.CancelledError:
        await _abandon(producer, closing)
        raise
    await _abandon(producer, closing)
    return False


async def _abandon(producer: AIOKafkaProducer, closing: asyncio.Future[None]) -> None:
    # aiokafka's stop() waits for every batch, and ours never expire (_never_expire): with the
    # broker gone it would wait for ever, its sender and metadata loop still running. Failing
    # the batches lets it close its sender and connections.
    producer._message_accumulator.fail_all(KafkaTimeoutError("the collector is stopping"))
    try:
        await closing
    except Exception as exc:  # whatever it is, the collector is stopping
        # With a broker that holds its connections but never answers (a paused process, a
        # network partition), aiokafka's stop trips over the batches just failed (AttributeError
        # in its transaction manager, KeyError re-enqueueing) before closing its connections;
        # the exception failed the app's whole shutdown. Nothing waits on those batches any
        # more: close the connections and go on.
        logger.warning("Kafka producer failed while stopping (%r); closing its connections", exc)
        try:
            await producer.client.close()
        except Exception as close_exc:
            logger.warning("closing the Kafka connections failed too: %r", close_exc)
