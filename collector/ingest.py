"""Where accepted events go: Kafka when it answers, the disk spool when it does not.

`accept` returns only once every event is acknowledged by Kafka or fsynced to the spool; anything
else raises Unavailable and the request is answered 503. After a failed produce the collector
stops trying Kafka on the request path: new events go straight to the spool (so requests do not
each wait out the produce bound) while the replayer drains the spool, in order and with the same
event ids, and switches back to Kafka once the spool is empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Final

from collector.metrics import Metrics
from collector.producer import EventProducer, ProduceError
from collector.records import Record, decode_record, encode_record
from collector.schema import SchemaError
from collector.spool import Chunk, Spool, SpoolError, SpoolFull
from collector.tasks import cancel

logger = logging.getLogger(__name__)

# Replay backs off between these bounds while Kafka stays away (s).
RETRY_MIN_S: Final = 0.5
RETRY_MAX_S: Final = 5.0
# Retry-After for a 503 (s): about how long a broker restart or a spool drain takes.
RETRY_AFTER_S: Final = 5


class Unavailable(Exception):
    """Neither Kafka nor the spool can take the events: answer 503 with Retry-After."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = RETRY_AFTER_S


# How long the replayer waits for the first sends of a chunk's records to settle before it
# backs off (s): they are retried until the broker writes or refuses them.
FIRST_SEND_WAIT_S: Final = 5.0


class Ingest:
    def __init__(self, producer: EventProducer, spool: Spool, metrics: Metrics) -> None:
        self.producer = producer
        self.spool = spool
        self.metrics = metrics
        # True from a failed produce (or a non-empty spool or no Kafka at start) until the
        # spool is drained.
        self.kafka_down = False
        self.corrupt_lines = 0
        self.late_ack_skips = 0
        # (segment, byte offset) of spooled lines Kafka acknowledged beyond the recorded prefix:
        # the next replay skips them. Kept in memory only: after a crash they are resent.
        self._acked_ahead: set[tuple[int, int]] = set()
        self._wake = asyncio.Event()
        self._replayer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.kafka_down = not self.spool.empty or not self.producer.connected
        self._replayer = asyncio.create_task(self._replay_loop(), name="spool-replayer")

    async def stop(self) -> None:
        task, self._replayer = self._replayer, None
        await cancel(task)

    async def accept(self, records: Sequence[Record]) -> None:
        """Put the records somewhere safe, or raise Unavailable. Updates the books either way."""
        m = self.metrics
        m.in_flight += len(records)
        try:
            pending = list(records)
            produced = 0
            if not self.kafka_down:
                started = time.monotonic()
                try:
                    await self.producer.send_all(pending)
                    pending = []
                except ProduceError as exc:
                    pending = exc.unacked
                    self._went_down()
                else:
                    m.produce_latency.observe(time.monotonic() - started)
                produced = len(records) - len(pending)
            if pending:
                try:
                    await self.spool.append([encode_record(r) for r in pending])
                except SpoolFull:
                    m.produced_then_refused += produced
                    raise Unavailable("spool_full") from None
                except SpoolError:
                    m.produced_then_refused += produced
                    raise Unavailable("spool_failed") from None
                self._wake.set()
            m.produced += produced
            m.spooled += len(pending)
            m.accepted += len(records)
        finally:
            m.in_flight -= len(records)

    def _went_down(self) -> None:
        if not self.kafka_down:
            logger.warning("Kafka unavailable: spooling events to %s", self.spool.path)
        self.kafka_down = True
        self._wake.set()

    async def _replay_chunk(self, chunk: Chunk) -> None:
        """Send the chunk's lines; on a partial failure record the acknowledged prefix, so the
        next attempt resends only what follows it (lines acknowledged beyond the prefix are
        remembered and skipped). A line whose first send (the request's, or an earlier
        replay's) has not settled is not sent: it may yet be written. One it wrote is skipped.
        Raises ProduceError when lines are left, its `acked` saying which records are done."""
        done = [False] * len(chunk.lines)
        records: list[Record] = []
        at: list[int] = []  # line index of each record
        offset = chunk.start
        for index, line in enumerate(chunk.lines):
            here, offset = (chunk.segment, offset), offset + len(line) + 1
            if here in self._acked_ahead:
                done[index] = True
                continue
            try:
                records.append(decode_record(line))
                at.append(index)
            except SchemaError as exc:
                # Only a damaged disk writes such a line: the spool holds encode_record output.
                self.corrupt_lines += 1
                done[index] = True
                logger.error("spool line that is not a record skipped: %s", exc)
        written, unsettled = await self.producer.first_sends(
            {(r.site, r.id) for r in records}, FIRST_SEND_WAIT_S
        )
        to_send: list[Record] = []
        send_at: list[int] = []
        for index, record in zip(at, records, strict=True):
            key = (record.site, record.id)
            if key in written:
                self.late_ack_skips += 1  # Kafka took it after its request was answered
                done[index] = True
            elif key not in unsettled:
                to_send.append(record)
                send_at.append(index)
        error: ProduceError | None = None
        try:
            await self.producer.send_all(to_send)
            acked = [True] * len(to_send)
        except ProduceError as exc:
            error, acked = exc, exc.acked
        for index, ok in zip(send_at, acked, strict=True):
            done[index] = ok
        self.metrics.replayed += sum(acked)
        prefix = next((i for i, ok in enumerate(done) if not ok), len(done))
        offset = chunk.start
        for index, line in enumerate(chunk.lines):
            if index >= prefix and done[index]:
                self._acked_ahead.add((chunk.segment, offset))
            offset += len(line) + 1
        await self._acknowledge(chunk, prefix)
        if error is not None or unsettled:
            reason = str(error) if error else f"{len(unsettled)} first sends not settled yet"
            raise ProduceError(reason, records, [done[i] for i in at])

    async def _acknowledge(self, chunk: Chunk, lines: int) -> None:
        await self.spool.acknowledge(chunk, lines)
        end = chunk.start + sum(len(line) + 1 for line in chunk.lines[:lines])
        self._acked_ahead = {
            (seg, off) for seg, off in self._acked_ahead if not (seg == chunk.segment and off < end)
        }

    async def _drain(self) -> None:
        """Replay the spool as it stands, oldest first; raises ProduceError when Kafka fails
        again. A pass ends at the segment sealed when it began: under load, appends never stop,
        and a pass that chased them would never end."""
        last = await self.spool.seal()
        while (chunk := await self.spool.take_chunk(last)) is not None:
            try:
                await self._replay_chunk(chunk)
            except ProduceError as exc:
                if not any(exc.acked):
                    raise  # no progress: back off
                # Kafka took part of it: it is there, only slow; go on without backing off.
        if self.kafka_down:
            # Everything spooled before this pass began is in Kafka. Later appends (under load
            # there always are some) are replayed by the next pass, a little behind requests
            # that now go to Kafka again: waiting for a spool that is empty at one instant
            # could wait as long as requests keep coming. Ask the brokers first, as nothing
            # may have been replayed to prove they are back.
            if not await self.producer.reachable():
                raise ProduceError("brokers unreachable", [], [])
            self.kafka_down = False
            logger.info("spool drained: producing to Kafka again")

    async def _replay_loop(self) -> None:
        delay = RETRY_MIN_S
        while True:
            if self.spool.empty:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=RETRY_MAX_S)
                if self.spool.empty and not self.kafka_down:
                    continue
            try:
                await self._drain()
                delay = RETRY_MIN_S
            except ProduceError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
            except OSError as exc:
                logger.error("spool replay failed: %r", exc)
                await asyncio.sleep(RETRY_MAX_S)
            except Exception:
                # The replayer must outlive anything a client library throws at it: a dead
                # replayer would leave the collector spooling forever.
                logger.exception("spool replay failed unexpectedly; retrying")
                await asyncio.sleep(RETRY_MAX_S)
