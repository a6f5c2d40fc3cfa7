"""Replay after a partial failure, at the producer seam: progress is recorded per acknowledged
prefix and nothing Kafka acknowledged is sent again. The real broker's version of this is
test_outage.py; here the producer's answers are scripted so every pattern is covered."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from collector.ingest import Ingest
from collector.metrics import Metrics
from collector.producer import EventProducer, ProduceError
from collector.schema import Record, encode_record
from collector.settings import Settings
from collector.spool import Spool


def record(i: int) -> Record:
    return Record(
        site="s",
        visitor=f"v{i % 3}",
        id=f"e{i}",
        kind="click",
        name="",
        ts=1,
        client_ts=1,
        received=1,
        url="http://localhost/",
        referrer="",
        pageview="",
        props={},
        bot=False,
    )


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
