"""The disk spool: where accepted events wait, fsynced, while Kafka cannot take them.

A folder of append-only segment files, one encoded record per line (encode_record never writes a
raw newline). Appends from concurrent requests are written and fsynced together (group commit);
an append returns only once its bytes are on disk, so the 2xx that follows is never a lie. The
replayer reads sealed segments in order and records how far Kafka has acknowledged each one in a
`.done` file beside it; a segment wholly acknowledged is deleted. The folder is locked, so two
collectors never share a spool.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

logger = logging.getLogger(__name__)

SEGMENT_SUFFIX: Final = ".seg"
DONE_SUFFIX: Final = ".done"
# How much of a segment the replayer reads at a time.
READ_BYTES: Final = 256 << 10


class SpoolFull(Exception):
    """The spool is at its size limit: answer 503 with Retry-After."""


class SpoolError(Exception):
    """The disk refused a write: the events are not safe, do not answer 2xx."""


class SpoolInUse(RuntimeError):
    """Another live process holds the spool's lock."""


@dataclass(frozen=True, slots=True)
class Chunk:
    segment: int
    start: int  # byte offset of the first line
    end: int  # byte offset after the last line
    lines: list[bytes]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    def __init__(self, path: Path, max_bytes: int, segment_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.pending_bytes = 0
        self.pending_events = 0
        self._sealed: list[int] = []
        self._done: dict[int, int] = {}  # segment -> bytes acknowledged by Kafka
        self._active: int | None = None
        self._active_fd: int | None = None
        self._active_size = 0
        self._next = 0
        self._lock_fd: int | None = None
        self._queue: list[tuple[bytes, int, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._io = asyncio.Lock()
        self._writer: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def open(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        lock_fd = os.open(self.path / "LOCK", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(lock_fd)
            raise SpoolInUse(f"spool {self.path} is in use by another collector") from None
        self._lock_fd = lock_fd
        for seg_path in sorted(self.path.glob(f"*{SEGMENT_SUFFIX}")):
            segment = int(seg_path.stem)
            self._repair(seg_path)
            done = self._read_done(segment)
            data = seg_path.read_bytes()[done:]
            self._sealed.append(segment)
            self._done[segment] = done
            self.pending_bytes += len(data)
            self.pending_events += data.count(b"\n")
            self._next = segment + 1
        if self.pending_events:
            logger.info(
                "spool %s holds %d events from before; replaying them",
                self.path,
                self.pending_events,
            )
        self._writer = asyncio.create_task(self._write_loop(), name="spool-writer")

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            while self._queue:  # let queued appends finish: their requests are waiting on them
                self._wake.set()
                await asyncio.sleep(0.01)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        async with self._io:
            self._close_active()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _repair(self, seg_path: Path) -> None:
        # A line without its newline was being written when the process died; its request was
        # never answered 2xx, so dropping it loses nothing that was acknowledged.
        data = seg_path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            with open(seg_path, "r+b") as f:
                f.truncate(keep)
                os.fsync(f.fileno())
            logger.warning("spool %s: dropped %d bytes of a torn write", seg_path, len(data) - keep)

    def _read_done(self, segment: int) -> int:
        try:
            return int((self.path / f"{segment:012d}{DONE_SUFFIX}").read_text() or 0)
        except (OSError, ValueError):
            return 0

    # -- appending -------------------------------------------------------------------------------

    def has_room(self, size: int) -> bool:
        return self.pending_bytes + size <= self.max_bytes

    async def append(self, lines: list[bytes]) -> None:
        """Append encoded records; returns once they are fsynced. Raises SpoolFull/SpoolError."""
        data = b"".join(line + b"\n" for line in lines)
        if not self.has_room(len(data)):
            raise SpoolFull(f"spool holds {self.pending_bytes} of {self.max_bytes} bytes")
        if self._writer is None:
            raise SpoolError("spool is not open")
        self.pending_bytes += len(data)
        self.pending_events += len(lines)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((data, len(lines), done))
        self._wake.set()
        await done

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._queue = self._queue, []
            if not batch:
                continue
            async with self._io:
                try:
                    await asyncio.to_thread(self._write, b"".join(d for d, _, _ in batch))
                except OSError as exc:
                    logger.error("spool write failed: %r", exc)
                    for data, n, fut in batch:
                        self.pending_bytes -= len(data)
                        self.pending_events -= n
                        if not fut.done():
                            fut.set_exception(SpoolError(str(exc)))
                    continue
            for _, _, fut in batch:
                if not fut.done():
                    fut.set_result(None)

    def _write(self, data: bytes) -> None:
        if self._active_fd is None:
            self._active = self._next
            self._next += 1
            seg_path = self.path / f"{self._active:012d}{SEGMENT_SUFFIX}"
            self._active_fd = os.open(seg_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            self._active_size = 0
            self._done[self._active] = 0
            _fsync_dir(self.path)  # the new file's name must survive a crash too
        view = memoryview(data)
        while view:
            written = os.write(self._active_fd, view)
            view = view[written:]
        os.fsync(self._active_fd)
        self._active_size += len(data)
        if self._active_size >= self.segment_bytes:
            self._close_active()

    def _close_active(self) -> None:
        if self._active_fd is not None and self._active is not None:
            os.close(self._active_fd)
            self._sealed.append(self._active)
        self._active_fd = None
        self._active = None

    # -- replaying -------------------------------------------------------------------------------

    async def seal(self) -> int:
        """Close the segment being written so the replayer may read it; returns the newest
        sealed segment (-1: none), the end of a replay pass."""
        async with self._io:
            self._close_active()
            return self._sealed[-1] if self._sealed else -1

    async def take_chunk(self, upto: int | None = None) -> Chunk | None:
        """The oldest lines Kafka has not acknowledged, from the oldest sealed segment (only
        segments up to `upto`, when given)."""
        async with self._io:
            return await asyncio.to_thread(self._next_chunk, upto)

    async def acknowledge(self, chunk: Chunk, lines: int | None = None) -> None:
        """Kafka acknowledged the chunk's first `lines` lines (all by default): remember how far,
        and delete a segment wholly done. Only a prefix is ever recorded, so what follows it is
        read again by the next take_chunk."""
        count = len(chunk.lines) if lines is None else lines
        if count <= 0:
            return
        end = chunk.start + sum(len(line) + 1 for line in chunk.lines[:count])
        async with self._io:
            await asyncio.to_thread(self._mark_done, chunk.segment, chunk.start, end, count)

    def _next_chunk(self, upto: int | None) -> Chunk | None:
        while self._sealed:
            segment = self._sealed[0]
            if upto is not None and segment > upto:
                return None
            start = self._done.get(segment, 0)
            with open(self.path / f"{segment:012d}{SEGMENT_SUFFIX}", "rb") as f:
                f.seek(start)
                data = f.read(READ_BYTES)
            if data:
                end = data.rfind(b"\n") + 1
                if end == 0:  # one line longer than READ_BYTES: read it whole
                    with open(self.path / f"{segment:012d}{SEGMENT_SUFFIX}", "rb") as f:
                        f.seek(start)
                        data = f.readline()
                    end = len(data)
                return Chunk(segment, start, start + end, data[:end].split(b"\n")[:-1])
            self._remove(segment)
        return None

    def _mark_done(self, segment: int, start: int, end: int, lines: int) -> None:
        done_path = self.path / f"{segment:012d}{DONE_SUFFIX}"
        tmp = done_path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            f.write(str(end))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, done_path)
        self._done[segment] = end
        self.pending_bytes -= end - start
        self.pending_events -= lines
        seg_path = self.path / f"{segment:012d}{SEGMENT_SUFFIX}"
        if end >= seg_path.stat().st_size:
            self._remove(segment)

    def _remove(self, segment: int) -> None:
        for suffix in (SEGMENT_SUFFIX, DONE_SUFFIX):
            (self.path / f"{segment:012d}{suffix}").unlink(missing_ok=True)
        self._sealed.remove(segment)
        self._done.pop(segment, None)

    @property
    def empty(self) -> bool:
        return self.pending_events == 0 and not self._queue


# -- slots: one spool per collector process ----------------------------------------------------
#
# A collector run with several worker processes on one port (MICROCV_COLLECTOR_WORKERS) gives
# each its own spool, a "slot": slot 0 is the folder named after the port (the one a single
# process has always used), slot k > 0 is "<port>-<k>". A process takes the lowest slot nobody
# holds, so a worker that died is replaced in the slot it left and replays what it spooled.
# Slots of a larger worker count than the current one are orphans: the entry point folds them
# into the live slots before any worker starts (merge_orphans), so running with fewer workers,
# or one, never strands an acknowledged event.

MAX_SLOTS: Final = 1024


def slot_path(base: Path, port: int, slot: int) -> Path:
    return base / (str(port) if slot == 0 else f"{port}-{slot}")


def slots(base: Path, port: int) -> dict[int, Path]:
    """Every slot folder of this port on disk: slot -> path."""
    found = {0: slot_path(base, port, 0)} if slot_path(base, port, 0).is_dir() else {}
    for path in base.glob(f"{port}-*"):
        suffix = path.name.removeprefix(f"{port}-")
        if path.is_dir() and suffix.isdigit():
            found[int(suffix)] = path
    return found


def open_slot(base: Path, port: int, max_bytes: int, segment_bytes: int, workers: int) -> Spool:
    """Open the lowest free slot (only slot 0 for a single worker, as before slots existed)."""
    for slot in range(MAX_SLOTS if workers > 1 else 1):
        spool = Spool(slot_path(base, port, slot), max_bytes, segment_bytes)
        try:
            spool.open()
        except SpoolInUse:
            continue
        return spool
    raise SpoolInUse(f"every spool slot of port {port} under {base} is in use")


def _lock(path: Path) -> int | None:
    fd = os.open(path / "LOCK", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def merge_orphans(base: Path, port: int, workers: int) -> int:
    """Move the segments of slots >= workers into slot (k mod workers), after its own, keeping
    their order and how far Kafka acknowledged each; returns the segments moved. A slot whose
    lock is held (a live process of an earlier run) is left alone. Run before any worker opens
    its slot."""
    moved = 0
    for slot, path in sorted(slots(base, port).items()):
        if slot < workers:
            continue
        target = slot_path(base, port, slot % workers)
        target.mkdir(parents=True, exist_ok=True)
        source_fd = _lock(path)
        target_fd = _lock(target) if source_fd is not None else None
        try:
            if source_fd is None or target_fd is None:
                logger.warning("spool %s is locked by a live process; not merged", path)
                continue
            # .done files count too: one left beside no segment must not be taken for a new one's.
            numbers = [int(p.stem) for p in target.iterdir() if p.stem.isdigit()]
            next_number = max(numbers, default=-1) + 1
            count = 0
            for seg_path in sorted(path.glob(f"*{SEGMENT_SUFFIX}")):
                name = f"{next_number:012d}"
                done_path = seg_path.with_suffix(DONE_SUFFIX)
                # The segment first: a crash between the two renames leaves a segment without its
                # progress (replayed from its start: repeats the consumers' event-id dedupe
                # drops), never a progress file that a later segment could be taken for.
                os.replace(seg_path, target / f"{name}{SEGMENT_SUFFIX}")
                if done_path.exists():
                    os.replace(done_path, target / f"{name}{DONE_SUFFIX}")
                next_number += 1
                count += 1
            _fsync_dir(target)
            for leftover in path.iterdir():
                leftover.unlink()
            path.rmdir()
            moved += count
            if count:
                logger.info("spool %s merged into %s (%d segments)", path, target, count)
        finally:
            for fd in (source_fd, target_fd):
                if fd is not None:
                    os.close(fd)
    return moved
