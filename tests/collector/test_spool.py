"""The disk spool on its own: fsynced appends, order, torn tails, the size limit, the lock."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from collector.spool import Spool, SpoolFull, SpoolInUse, merge_orphans, open_slot, slot_path


def segments(path: Path) -> list[Path]:
    return sorted(path.glob("*.seg"))


def tear(segment: Path) -> None:
    with open(segment, "ab") as f:
        f.write(b'{"half')


async def drain(spool: Spool) -> list[bytes]:
    lines: list[bytes] = []
    while True:
        chunk = await spool.take_chunk()
        if chunk is None:
            await spool.seal()
            chunk = await spool.take_chunk()
            if chunk is None:
                return lines
        lines += chunk.lines
        await spool.acknowledge(chunk)


async def test_appends_replay_in_order_across_segments_and_a_restart(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=200)
    spool.open()
    # Concurrent appends are written together; each returns once its bytes are fsynced.
    await asyncio.gather(*(spool.append([f"a{i}".encode(), f"b{i}".encode()]) for i in range(25)))
    for i in range(25, 50):
        await spool.append([f"a{i}".encode(), f"b{i}".encode()])
    assert spool.pending_events == 100
    await spool.close()
    assert len(segments(tmp_path)) > 1

    reopened = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=200)
    reopened.open()
    assert reopened.pending_events == 100
    lines = await drain(reopened)
    # Each request's lines stay together and in order; requests keep their arrival order.
    assert sorted(lines) == sorted([f"{p}{i}".encode() for i in range(50) for p in "ab"])
    for i in range(50):
        assert lines.index(f"a{i}".encode()) + 1 == lines.index(f"b{i}".encode())
    assert reopened.empty and reopened.pending_bytes == 0
    assert not segments(tmp_path)  # acknowledged segments are deleted
    await reopened.close()


async def test_progress_survives_a_restart_and_a_torn_tail_is_dropped(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=1 << 20)
    spool.open()
    await spool.append([b"one", b"two"])
    await spool.seal()
    chunk = await spool.take_chunk()
    assert chunk is not None and chunk.lines == [b"one", b"two"]
    await spool.append([b"three"])
    await spool.close()
    # The process died while writing a fourth line: its request never got its 2xx.
    tear(segments(tmp_path)[-1])
    reopened = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=1 << 20)
    reopened.open()
    assert await drain(reopened) == [b"one", b"two", b"three"]
    await reopened.close()


async def test_a_full_spool_refuses_and_frees_room_as_it_drains(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=100, segment_bytes=1 << 20)
    spool.open()
    await spool.append([b"x" * 60])
    assert not spool.has_room(60)
    with pytest.raises(SpoolFull):
        await spool.append([b"y" * 60])
    assert spool.pending_events == 1
    assert await drain(spool) == [b"x" * 60]
    await spool.append([b"y" * 60])
    await spool.close()


async def test_two_collectors_never_share_a_spool(tmp_path: Path) -> None:
    first = Spool(tmp_path, 1000, 1000)
    first.open()
    with pytest.raises(RuntimeError, match="in use"):
        Spool(tmp_path, 1000, 1000).open()
    await first.close()


# -- slots: one spool per worker process --------------------------------------------------------


async def test_each_worker_takes_the_lowest_free_slot(tmp_path: Path) -> None:
    first = open_slot(tmp_path, 8601, 1000, 1000, workers=2)
    second = open_slot(tmp_path, 8601, 1000, 1000, workers=2)
    assert (first.path.name, second.path.name) == ("8601", "8601-1")
    await first.close()
    # A worker that died is replaced in the slot it left, and finds what it spooled there.
    again = open_slot(tmp_path, 8601, 1000, 1000, workers=2)
    assert again.path.name == "8601"
    with pytest.raises(SpoolInUse):  # a single worker has slot 0 only, as before slots existed
        open_slot(tmp_path, 8601, 1000, 1000, workers=1)
    await again.close()
    await second.close()


async def _spool_with(path: Path, lines: list[bytes], acknowledged: int) -> None:
    spool = Spool(path, max_bytes=1 << 20, segment_bytes=30)
    spool.open()
    for line in lines:
        await spool.append([line])
    await spool.seal()
    for _ in range(acknowledged):
        chunk = await spool.take_chunk()
        assert chunk is not None
        await spool.acknowledge(chunk, 1)
    await spool.close()


async def test_fewer_workers_take_over_the_orphaned_slots_in_order(tmp_path: Path) -> None:
    # A run with three workers left events in every slot, part of slot 2's already in Kafka.
    await _spool_with(slot_path(tmp_path, 8601, 0), [b"a0", b"a1"], 0)
    await _spool_with(slot_path(tmp_path, 8601, 1), [b"b0"], 0)
    await _spool_with(slot_path(tmp_path, 8601, 2), [b"c0", b"c1", b"c2"], 1)
    assert merge_orphans(tmp_path, 8601, workers=1) > 0
    assert sorted(os.listdir(tmp_path)) == ["8601"]
    spool = open_slot(tmp_path, 8601, 1 << 20, 1 << 20, workers=1)
    # Slot 0's own first, then each orphan's in slot order; c0 was acknowledged: not again.
    assert spool.pending_events == 5
    assert await drain(spool) == [b"a0", b"a1", b"b0", b"c1", b"c2"]
    await spool.close()


async def test_an_orphan_held_by_a_live_process_is_left_alone(tmp_path: Path) -> None:
    await _spool_with(slot_path(tmp_path, 8601, 1), [b"b0"], 0)
    live = Spool(slot_path(tmp_path, 8601, 1), 1000, 1000)
    live.open()
    assert merge_orphans(tmp_path, 8601, workers=1) == 0
    assert live.pending_events == 1 and (tmp_path / "8601-1").is_dir()
    await live.close()
    assert merge_orphans(tmp_path, 8601, workers=1) == 1
