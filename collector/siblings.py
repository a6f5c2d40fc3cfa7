"""Sibling workers: the collector processes that share one port (MICROCV_COLLECTOR_WORKERS).

The kernel hands each connection to one of them, so a Prometheus scrape reaches one worker at a
time. Each worker writes a snapshot of its metrics into its spool slot once a second (and when it
stops); the worker that is scraped answers with its own live figures plus its siblings' latest
snapshots, so every scrape sees the whole collector, at most a second late for the others. A
worker that died leaves its last snapshot in its slot until its replacement, which takes the same
slot, writes its own: the collector's counters then drop by what the dead worker had counted, a
reset that Prometheus's rate() treats as one.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import orjson

from collector.metrics import Metrics, carried, merged
from collector.spool import slots
from collector.tasks import cancel

logger = logging.getLogger(__name__)

SNAPSHOT: Final = "metrics.json"
INTERVAL_S: Final = 1.0


class Siblings:
    def __init__(self, metrics: Metrics, own: Path, base: Path, port: int) -> None:
        self.metrics = metrics
        self.own = own  # this worker's spool slot
        self.base = base
        self.port = port
        self._task: asyncio.Task[None] | None = None
        self._carried: dict[str, Any] = {}

    async def start(self) -> None:
        if self._task is None:
            previous = self._read(self.own)
            self._carried = carried(previous) if previous is not None else {}
            # Written at once: the previous owner's gauges must not be summed in.
            self.write()
            self._task = asyncio.create_task(self._loop(), name="sibling-metrics")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await cancel(task)
            self.write()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(INTERVAL_S)
            self.write()

    def write(self) -> None:
        tmp = self.own / f"{SNAPSHOT}.tmp"
        try:
            tmp.write_bytes(orjson.dumps(merged([self.metrics.snapshot(), self._carried])))
            os.replace(tmp, self.own / SNAPSHOT)
        except OSError as exc:  # a scrape is a little late for this worker, nothing more
            logger.warning("metrics snapshot not written: %r", exc)

    def others(self) -> list[Mapping[str, Any]]:
        """What a scrape of this worker adds to its live figures: the counters it carries and
        its siblings' latest snapshots."""
        found: list[Mapping[str, Any]] = [self._carried]
        for path in slots(self.base, self.port).values():
            if path != self.own and (snapshot := self._read(path)) is not None:
                found.append(snapshot)
        return found

    @staticmethod
    def _read(slot: Path) -> dict[str, Any] | None:
        try:
            snapshot = orjson.loads((slot / SNAPSHOT).read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None  # a slot without a snapshot yet
        return snapshot if isinstance(snapshot, dict) else None
