"""The counter worker: one consumer-group member applying the event stream to Redis.

The loop is aiokafka's manual-commit loop with the offsets kept in Redis beside the counters:
getmany, apply each site's share with its watermark in one script, then commit. On assignment
each partition is sought to the lowest watermark + 1 of its sites, so Redis, not the committed
offset, decides where work resumes.

Batches are pipelined: while Redis applies batch N (one task, waiting on its reply), the loop
polls and decodes batch N+1. Only one batch is applied at a time, in poll order, so each share
is built on the watermarks its predecessor left; a partition sought meanwhile (Redis stood
behind, a Redis error, a rebalance) drops what was polled before the seek (consumers.shares.Part).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord
from redis.exceptions import RedisError

from consumers.config import parse_configs
from consumers.deadletters import DeadLetters
from consumers.metrics import MetricsServer, WorkerMetrics
from consumers.redisconn import AnyRedis, connect
from consumers.settings import Settings
from consumers.shares import Part, Poison, Share, decode
from consumers.store import CounterStore, SiteBatch
from consumers.writes import Payload, Prepared, build, prepare, state_fields
from snippet.sites import Sites

logger = logging.getLogger(__name__)

# Offsets are committed at most this often: a commit is a broker round trip, and Redis's
# watermarks, not the committed offsets, decide where work resumes, so committing late only
# means rereading (and skipping) a little more after a crash.
COMMIT_INTERVAL_S: Final = 1.0
# How long a rebalance waits for the batch being applied before partitions are taken away; past
# it the watermarks still keep every event exactly once, the wait only saves a replay.
REVOKE_WAIT_S: Final = 10.0


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._worker.applied_or_late(REVOKE_WAIT_S)
        for tp in revoked:
            self._worker.forget(tp.partition)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self._worker.resume_from_redis(assigned)


class Worker:
    def __init__(self, settings: Settings, sites: Sites) -> None:
        self.settings = settings
        self.sites = sites
        # Parsed up front: a bad conversion rule stops the worker at start, naming the key.
        self.configs = parse_configs(sites)
        self._state_fields = {s: state_fields(c) for s, c in self.configs.items()}
        self.metrics = WorkerMetrics()
        self._lag: dict[int, int] = {}
        self._metrics_server: MetricsServer | None = None
        self._resumed = False  # partitions were assigned and sought at least once
        self._sought_at = 0.0  # monotonic time of the last assignment's seeks
        self._stopping = False
        self._redis: AnyRedis | None = None
        self._store: CounterStore | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._dead_letters = DeadLetters(
            settings.kafka_bootstrap, settings.dead_letter_topic, self.metrics
        )
        # (partition, site) -> last applied offset, mirrored from Redis to filter replays early.
        self._watermarks: dict[tuple[int, str], int] = {}
        self._uncommitted: dict[TopicPartition, int] = {}  # applied, next offset to commit
        self._committed_at = time.monotonic()
        self._epochs: dict[int, int] = {}  # partition -> seeks and revocations so far
        self._applying: asyncio.Task[None] | None = None  # the batch Redis is applying

    @property
    def applied(self) -> int:
        return self.metrics.applied

    @property
    def duplicates(self) -> int:
        return self.metrics.duplicates

    @property
    def dead_letters(self) -> int:
        return sum(self.metrics.dead_letters.values())

    def render_metrics(self) -> str:
        trips = self._store.round_trips if self._store is not None else 0
        return self.metrics.render(self._lag, trips)

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._consumer is not None:
            return
        s = self.settings
        self._redis = connect(s)
        self._store = CounterStore(self._redis, s.topic)
        await self._dead_letters.start()
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=s.kafka_bootstrap,
            group_id=s.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            client_id="microcv-worker",
        )
        await self._consumer.start()
        self._consumer.subscribe([s.topic], listener=_Rebalance(self))
        if s.metrics_port:
            self._metrics_server = MetricsServer(
                s.metrics_host, s.metrics_port, self.render_metrics
            )
            await self._metrics_server.start()
        logger.info("worker up: group %s, topic %s, %d sites", s.group, s.topic, len(self.sites))

    async def stop(self) -> None:
        try:
            await self.commit()  # what was applied since the last commit
        finally:
            await self._close()

    async def _close(self) -> None:
        consumer, self._consumer = self._consumer, None
        redis, self._redis = self._redis, None
        server, self._metrics_server = self._metrics_server, None
        if server is not None:
            await server.stop()
        try:
            if consumer is not None:
                await consumer.stop()
        finally:
            await self._dead_letters.stop()
            if redis is not None:
                await redis.aclose()
        if consumer is not None:
            logger.info(
                "worker stopped: %d applied (%d from bots), %d duplicates, %d dead letters",
                self.applied,
                self.metrics.bots,
                self.duplicates,
                self.dead_letters,
            )

    def request_stop(self) -> None:
        """Signal handlers only set this flag; the loop finishes its batch and leaves."""
        self._stopping = True

    # -- the loop --------------------------------------------------------------------------------

    async def poll(self) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        assert self._consumer is not None
        batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
        batch = await self._consumer.getmany(
            timeout_ms=self.settings.poll_timeout_ms, max_records=self.settings.max_batch
        )
        return batch

    async def run(self, *, burst: bool = False) -> None:
        idle_since = time.monotonic()
        try:
            while not self._stopping:
                batch = await self.poll()
                if not batch:
                    # Idle time counts only once partitions were assigned and sought: a group
                    # still forming (a fresh broker creating its offsets topic) is not empty.
                    # A rebalance may complete inside a poll that waited for it (a dead member's
                    # session running out): idle time counts from the assignment, if later.
                    idle_since = max(idle_since, self._sought_at)
                    if not self._resumed:
                        idle_since = time.monotonic()
                    elif burst and time.monotonic() - idle_since > self.settings.burst_idle_s:
                        return
                    continue
                idle_since = time.monotonic()
                # Decoded while Redis applies the previous batch: the two overlap.
                parts = self.decode(batch)
                await self._settle()
                self._applying = asyncio.create_task(self.apply(parts))
                # The task builds its writes and sends them before the next poll.
                await asyncio.sleep(0)
        finally:
            await self._settle()

    async def _settle(self) -> None:
        """Wait for the batch being applied; a Redis error there re-syncs from the watermarks."""
        task, self._applying = self._applying, None
        if task is None:
            return
        try:
            await task
        except RedisError as exc:
            # Nothing of the failed batch is committed; rereading the watermarks and seeking
            # makes the next polls redo exactly what Redis does not have (and drops the batch
            # polled meanwhile: its partitions were sought).
            logger.warning("redis error, re-syncing from watermarks: %r", exc)
            self.metrics.redis_errors += 1
            await self._resync_after_redis_error()

    async def applied_or_late(self, within: float) -> None:
        """Wait at most `within` s for the batch being applied (its errors are the loop's)."""
        task = self._applying
        if task is not None and not task.done():
            await asyncio.wait({task}, timeout=within)

    async def process(
        self,
        batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]],
        *,
        commit: bool = True,
    ) -> None:
        """Apply one `getmany` batch, then commit it (commit=False plays a crash before commit)."""
        await self.apply(self.decode(batch), commit=commit)

    def decode(self, batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]) -> list[Part]:
        assert self._consumer is not None
        parts = []
        for tp, messages in batch.items():
            part = decode(tp, messages, self.sites, self._epochs.get(tp.partition, 0))
            parts.append(part)
            highwater = self._consumer.highwater(tp)
            if highwater is not None:
                self._lag[tp.partition] = max(0, highwater - part.next_offset)
        return parts

    def _current(self, part: Part) -> bool:
        return self._epochs.get(part.tp.partition, 0) == part.epoch

    async def apply(self, parts: list[Part], *, commit: bool = True) -> None:
        """Apply decoded parts whose partitions were not sought since their poll."""
        parts = [part for part in parts if self._current(part)]
        shares: list[Share] = []
        for part in parts:
            # Dead letters are awaited before the batch is applied (see _dead_letters).
            await self._dead_letter(part.tp.partition, part.poison)
            shares += part.shares
        await self._apply(shares)
        self.metrics.batches += 1
        self.metrics.sample()
        if not commit:
            return
        for part in parts:
            # A partition sought meanwhile (Redis stood behind) or taken away commits nothing.
            if self._current(part):
                self._uncommitted[part.tp] = part.next_offset
        if time.monotonic() - self._committed_at >= COMMIT_INTERVAL_S:
            await self.commit()

    async def commit(self) -> None:
        """Commit what was applied on the partitions this worker still owns."""
        if self._consumer is None:
            return
        owned = self._consumer.assignment()
        to_commit = {tp: o for tp, o in self._uncommitted.items() if tp in owned}
        self._uncommitted.clear()
        self._committed_at = time.monotonic()
        if to_commit:
            # A failed commit only costs a replay that the watermarks turn into a no-op.
            try:
                await self._consumer.commit(to_commit)
            except KafkaError as exc:
                logger.info("commit skipped: %r", exc)

    async def _apply(self, shares: list[Share]) -> set[TopicPartition]:
        """Apply the shares; returns the partitions sought back because Redis stood behind."""
        assert self._store is not None
        rewound: set[TopicPartition] = set()
        while shares:
            shares = [sh for sh in shares if sh.tp not in rewound]
            # Drop what this worker already knows to be applied before building any payload.
            for share in shares:
                share.drop_upto(self._watermarks.get((share.tp.partition, share.site), -1))
            shares = [share for share in shares if share.offsets]
            if not shares:
                break
            preps = [
                prepare(self.configs[sh.site], sh.tp.partition, sh.offsets, sh.batches, sh.skip)
                for sh in shares
            ]
            states = await self._read_states(preps, shares, rewound)
            if states is None:
                continue  # a watermark moved under us: filter again from what Redis said
            batches = [
                SiteBatch(
                    site=p.site,
                    partition=p.partition,
                    expected=self._watermarks.get((p.partition, p.site), -1),
                    last_offset=p.last_offset,
                    **_payload(build(self.configs[p.site], p, states.get(i, {}))),
                )
                for i, p in enumerate(preps)
            ]
            results = await self._store.apply(batches)
            retry: list[Share] = []
            for share, prep, (code, info) in zip(shares, preps, results, strict=True):
                key = (share.tp.partition, share.site)
                if code == 0:
                    self.metrics.applied += prep.applied
                    self.metrics.bots += prep.bots
                    self.metrics.duplicates += prep.duplicates
                    self._watermarks[key] = prep.last_offset
                    continue
                if isinstance(info, int):
                    # Another member (or this one before a rebalance) got further: redo only
                    # what lies above its watermark. A Redis that lost its last writes stands
                    # behind: read that partition again from there.
                    self._moved(share, info, rewound)
                else:
                    share.skip |= set(info)  # client retries another share applied first
                retry.append(share)
            shares = retry
        if rewound:
            # A Redis that lost its last writes lost them for every partition, not only those
            # of this batch (its append-only file is fsynced once a second): every assigned
            # partition is read again from its watermarks, or an idle one would stay behind
            # until its next record. Those Redis kept are sought to where they already are.
            assert self._consumer is not None
            await self.resume_from_redis(sorted(self._consumer.assignment()))
        return rewound

    def _moved(self, share: Share, mark: int, rewound: set[TopicPartition]) -> None:
        key = (share.tp.partition, share.site)
        if mark < self._watermarks.get(key, -1):
            logger.warning(
                "partition %d: redis is behind (site %s at %d): reading again from there",
                share.tp.partition,
                share.site,
                mark,
            )
            # Other sites and partitions may have lost writes too: _apply seeks every assigned
            # partition to the lowest watermark of its sites once this batch is done.
            self._watermarks[key] = mark
            rewound.add(share.tp)
        else:
            self._watermarks[key] = mark

    async def _read_states(
        self, preps: list[Prepared], shares: list[Share], rewound: set[TopicPartition]
    ) -> dict[int, dict[str, dict[str, str]]] | None:
        """Visitor states for the shares that need them, or None when a watermark moved."""
        assert self._store is not None
        need = [(i, p) for i, p in enumerate(preps) if p.stateful]
        if not need:
            return {}
        answers = await self._store.read_states(
            [(p.site, p.partition, sorted(p.stateful)) for _, p in need], self._state_fields
        )
        states: dict[int, dict[str, dict[str, str]]] = {}
        moved = False
        for (i, p), (mark, visitor_states) in zip(need, answers, strict=True):
            if mark != self._watermarks.get((p.partition, p.site), -1):
                self._moved(shares[i], mark, rewound)
                moved = True
            states[i] = visitor_states
        return None if moved else states

    async def _dead_letter(self, partition: int, poison: list[Poison]) -> None:
        if poison:
            # A later offset of this partition already applied means the record was
            # dead-lettered before (dead letters are awaited before the batch is applied).
            marks = (m for (p, _), m in self._watermarks.items() if p == partition)
            await self._dead_letters.write(poison, max(marks, default=-1))

    # -- assignment ------------------------------------------------------------------------------

    def forget(self, partition: int) -> None:
        self._epochs[partition] = self._epochs.get(partition, 0) + 1
        self._lag.pop(partition, None)
        for tp in [tp for tp in self._uncommitted if tp.partition == partition]:
            del self._uncommitted[tp]
        for key in [k for k in self._watermarks if k[0] == partition]:
            del self._watermarks[key]

    async def resume_from_redis(self, assigned: Sequence[TopicPartition]) -> None:
        """Seek each partition to the lowest watermark + 1 of its sites."""
        # Locals: stop() may clear the attributes while this awaits (a worker stopped right
        # after start, during its first rebalance); the objects themselves stay usable.
        store, consumer = self._store, self._consumer
        if store is None or consumer is None:
            return  # stopped meanwhile
        site_ids = [site.id for site in self.sites]
        for tp in assigned:
            marks = await store.watermarks(site_ids, tp.partition)
            missing = [s for s, m in marks.items() if m is None]
            if missing:
                # A site with no watermark yet gets one just below where the group stands, so
                # its first real write can never be lost behind another site's.
                committed = await consumer.committed(tp)
                if committed is None:
                    committed = (await consumer.beginning_offsets([tp]))[tp]
                await store.set_watermarks(
                    dict.fromkeys(missing, committed - 1), tp.partition, only_new=True
                )
                marks = await store.watermarks(site_ids, tp.partition)
            for site, mark in marks.items():
                self._watermarks[(tp.partition, site)] = -1 if mark is None else mark
            position = min((m for m in marks.values() if m is not None), default=-1) + 1
            consumer.seek(tp, position)
            self._epochs[tp.partition] = self._epochs.get(tp.partition, 0) + 1
            logger.info("partition %d resumes at offset %d", tp.partition, position)
        self._resumed = True
        self._sought_at = time.monotonic()

    async def _resync_after_redis_error(self) -> None:
        assert self._consumer is not None
        delay = 0.1
        while not self._stopping:
            try:
                await self.resume_from_redis(sorted(self._consumer.assignment()))
                return
            except RedisError as exc:
                logger.warning("redis still unavailable (%r); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)


def _payload(p: Payload) -> dict[str, Any]:
    return {"keys": p.keys, "payload": p.payload}
