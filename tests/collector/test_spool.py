"""The disk spool on its own: fsynced appends, order, torn tails, the size limit, the lock."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from collector.spool import Spool, SpoolFull


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
