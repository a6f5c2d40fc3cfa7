"""Replay after a partial failure, at the producer seam: progress is recorded per acknowledged
prefix, nothing Kafka acknowledged is sent again, and nothing whose first send may still be
written is sent at all. The real broker's version of this is
test_outage.py; here the producer's answers are scripted so every pattern is covered."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from pathlib import Path
from unittest import mock

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, OutOfOrderSequenceNumber

from collector.ingest import Ingest
from collector.metrics import Metrics
from collector.producer import EventProducer, ProduceError, _never_expire
from collector.records import Record, encode_record
from collector.settings import Settings
from collector.spool import Chunk, Spool
from tests.collector.conftest import record


class ScriptedProducer(EventProducer):
    """Acknowledges the records whose ids are not in `refuse`, and records every send."""

    def __init__(self) -> None:
        super().__init__(Settings())
        self.refuse: set[str] = set()
        self.sent: list[str] = []

    async def send_all(self, records: Sequence[Record]) -> None:
        acked = [r.id not in self.refuse for r in records]
        self.sent += [r.id for r, ok in zip(records, acked, strict=True) if ok]
        if not all(acked):
            raise ProduceError("scripted", records, acked)


async def test_a_partial_failure_resends_only_what_kafka_did_not_take(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=1 << 20)
    spool.open()
    await spool.append([encode_record(record(i)) for i in range(6)])
    await spool.seal()
    producer = ScriptedProducer()
    metrics = Metrics()
    ingest = Ingest(producer, spool, metrics)

    producer.refuse = {"e2", "e4"}  # e0 e1 acknowledged (the prefix), e3 e5 beyond it
    chunk = await spool.take_chunk()
    assert chunk is not None
    with pytest.raises(ProduceError):  # the failure reaches the replay loop, which backs off
        await ingest._replay_chunk(chunk)
    assert spool.pending_events == 4  # the prefix is recorded, on disk
    assert metrics.replayed == 4

    reopened_chunk = await spool.take_chunk()
    assert reopened_chunk is not None and len(reopened_chunk.lines) == 4
    producer.refuse = set()
    await ingest._replay_chunk(reopened_chunk)
    assert producer.sent == ["e0", "e1", "e3", "e5", "e2", "e4"]  # each exactly once
    assert metrics.replayed == 6
    assert spool.pending_events == 0
    assert await spool.take_chunk() is None
    await spool.close()


async def test_the_prefix_survives_a_restart(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=1 << 20)
    spool.open()
    await spool.append([encode_record(record(i)) for i in range(4)])
    await spool.seal()
    producer = ScriptedProducer()
    producer.refuse = {"e1"}
    chunk = await spool.take_chunk()
    assert chunk is not None
    with pytest.raises(ProduceError):
        await Ingest(producer, spool, Metrics())._replay_chunk(chunk)
    await spool.close()

    reopened = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=1 << 20)
    reopened.open()
    assert reopened.pending_events == 3  # e0 is done on disk; e2 (beyond the prefix) is not
    again = ScriptedProducer()
    chunk = await reopened.take_chunk()
    assert chunk is not None
    await Ingest(again, reopened, Metrics())._replay_chunk(chunk)
    # After a crash only the durable prefix is known: e2 goes again (a documented duplicate).
    assert again.sent == ["e1", "e2", "e3"]
    await reopened.close()


async def _chunk_of(spool: Spool, count: int) -> Chunk:
    await spool.append([encode_record(record(i)) for i in range(count)])
    await spool.seal()
    chunk = await spool.take_chunk()
    assert chunk is not None
    return chunk


async def test_a_first_send_in_flight_is_not_resent_and_skipped_once_written(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=1 << 20)
    spool.open()
    producer = ScriptedProducer()
    ingest = Ingest(producer, spool, Metrics())
    first: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    producer._give_up([("s", "e1")], first)  # the request gave up on e1; its send goes on
    chunk = await _chunk_of(spool, 3)

    with mock.patch("collector.ingest.FIRST_SEND_WAIT_S", 0.05), pytest.raises(ProduceError):
        await ingest._replay_chunk(chunk)
    assert producer.sent == ["e0", "e2"]  # not e1: it may yet be written
    assert spool.pending_events == 2  # the prefix (e0) is done on disk; e2 is remembered

    first.set_result(None)  # Kafka wrote it after all
    await asyncio.sleep(0)  # done callbacks run on the next turn of the loop
    assert producer.late_acks == 1
    chunk = await spool.take_chunk()
    assert chunk is not None
    await ingest._replay_chunk(chunk)
    assert producer.sent == ["e0", "e2"] and ingest.late_ack_skips == 1
    assert spool.pending_events == 0
    await spool.close()


@pytest.mark.parametrize(
    ("error", "uncertain"),
    [(OutOfOrderSequenceNumber(), 0), (MessageSizeTooLargeError(), 0), (KafkaError(), 1)],
)
async def test_a_failed_first_send_is_resent_and_an_unknown_fate_counted(
    tmp_path: Path, error: Exception, uncertain: int
) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=1 << 20)
    spool.open()
    producer = ScriptedProducer()
    first: asyncio.Future[object] = asyncio.get_running_loop().create_future()
    producer._give_up([("s", "e0")], first)
    first.set_exception(error)
    await Ingest(producer, spool, Metrics())._replay_chunk(await _chunk_of(spool, 2))
    assert producer.sent == ["e0", "e1"]
    assert producer.uncertain_resends == uncertain
    await spool.close()


async def test_batches_waiting_for_a_leader_never_expire() -> None:
    # The one aiokafka internal the producer relies on (see producer._never_expire).
    kafka = AIOKafkaProducer(bootstrap_servers="127.0.0.1:9")
    _never_expire(kafka)
    assert kafka._message_accumulator._batch_ttl == math.inf
    await kafka.stop()
