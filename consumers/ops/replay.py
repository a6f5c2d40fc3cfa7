"""`microcv replay`: post a clickstream file to the collector, as the tag would, in batches.

Rows are grouped into beacons by site, page origin, client IP and user agent (one group is one
browser, as far as the collector can tell). A group's batches go out in file order on one lane, so
one visitor's events keep their order; lanes run concurrently. 429 and 503 are retried after
their Retry-After, network errors and other 5xx after a backoff: a retried batch carries the same
event ids and event times, so the consumers count it once.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TextIO

import httpx
import orjson

from collector.schema import MAX_BODY_BYTES, MAX_EVENTS, VERSION
from consumers.ops.clickstream import Format, Row, RowError, count_rows, read_rows
from consumers.ops.progress import Progress

COLLECT_PATH = "/v1/collect"
USER_AGENT = "microcv-replay/1"
MAX_RETRY_AFTER_S = 60.0
# Room left in a body for the envelope ({"v":1,"s":...,"t":...,"e":[...]}).
ENVELOPE_BYTES = 256

GroupKey = tuple[str, str, str, str]  # site, origin, ip, user agent


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    collector_url: str
    batch_size: int = 50
    concurrency: int = 4
    keep_time: bool = False  # False: every event happens now; True: the file's times
    give_up_after_s: float = 300.0  # per batch, across its retries
    request_timeout_s: float = 10.0


@dataclass
class Tally:
    rows: int = 0
    accepted: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)  # events given up on, by last reason
    bad_rows: list[str] = field(default_factory=list)
    retries: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not (self.rejected or self.failed or self.bad_rows)

    def summary(self) -> list[str]:
        def reasons(counter: Counter[str]) -> str:
            return ", ".join(f"{reason} {n}" for reason, n in counter.most_common())

        lines = [
            f"rows {self.rows}, accepted {self.accepted}, rejected {self.rejected.total()}, "
            f"failed {self.failed.total()}, bad rows {len(self.bad_rows)}, "
            f"retries {self.retries.total()}"
        ]
        if self.rejected:
            lines.append(f"rejected by the collector: {reasons(self.rejected)}")
        if self.failed:
            lines.append(f"given up: {reasons(self.failed)}")
        if self.retries:
            lines.append(f"retried after: {reasons(self.retries)}")
        lines += [f"bad row: {error}" for error in self.bad_rows[:20]]
        if len(self.bad_rows) > 20:
            lines.append(f"... and {len(self.bad_rows) - 20} more bad rows")
        return lines


@dataclass(slots=True)
class Batch:
    key: GroupKey
    rows: list[Row] = field(default_factory=list)
    size: int = ENVELOPE_BYTES


def retry_after(response: httpx.Response, default: float) -> float:
    value = response.headers.get("retry-after", "")
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            seconds = default
    return min(max(seconds, 0.1), MAX_RETRY_AFTER_S)


class Replayer:
    def __init__(self, options: ReplayOptions, client: httpx.AsyncClient, progress: Progress):
        self._options = options
        self._client = client
        self._progress = progress
        self._url = options.collector_url.rstrip("/") + COLLECT_PATH
        self.tally = Tally()

    def _body(self, batch: Batch) -> bytes:
        now = int(time.time() * 1000)
        return orjson.dumps(
            {"v": VERSION, "s": batch.key[0], "t": now, "e": [row.event for row in batch.rows]}
        )

    def _headers(self, key: GroupKey) -> dict[str, str]:
        _, origin, ip, user_agent = key
        headers = {"content-type": "text/plain", "user-agent": user_agent or USER_AGENT}
        if origin:
            headers["origin"] = origin
        if ip:
            # Believed only when this host is one of the collector's MICROCV_TRUSTED_PROXIES.
            headers["x-forwarded-for"] = ip
        return headers

    def _accept(self, batch: Batch, response: httpx.Response) -> None:
        try:
            answer: Any = response.json()
        except ValueError:
            answer = {}
        n = len(batch.rows)
        rejected = answer.get("rejected", []) if isinstance(answer, dict) else []
        for item in rejected:
            reason = item[1] if isinstance(item, list) and len(item) > 1 else "rejected"
            self.tally.rejected[str(reason)] += 1
        accepted = answer.get("accepted") if isinstance(answer, dict) else None
        self.tally.accepted += accepted if isinstance(accepted, int) else n - len(rejected)

    async def send(self, batch: Batch) -> None:
        if not self._options.keep_time:
            now = int(time.time() * 1000)
            # Set once: a retry must carry the same event time, or it could land in another
            # minute bucket than an attempt that did get through.
            for row in batch.rows:
                row.event["ts"] = now
        n = len(batch.rows)
        deadline = time.monotonic() + self._options.give_up_after_s
        attempt = 0
        while True:
            backoff = min(0.2 * 2**attempt, 10.0)
            try:
                response = await self._client.post(
                    self._url, content=self._body(batch), headers=self._headers(batch.key)
                )
            except httpx.TransportError as exc:
                reason, wait = type(exc).__name__, backoff
            else:
                status = response.status_code
                if status in (200, 202):
                    self._accept(batch, response)
                    break
                if status in (429, 503):
                    reason, wait = f"http_{status}", retry_after(response, backoff)
                elif status >= 500:
                    reason, wait = f"http_{status}", backoff
                else:
                    try:
                        answer = response.json()
                    except ValueError:
                        answer = {}
                    error = answer.get("error") if isinstance(answer, dict) else None
                    self.tally.rejected[str(error or f"http_{status}")] += n
                    break
            if time.monotonic() + wait > deadline:
                self.tally.failed[reason] += n
                break
            self.tally.retries[reason] += 1
            attempt += 1
            await asyncio.sleep(wait)
        self._progress.advance(n)

    async def _lane(self, queue: asyncio.Queue[Batch | None]) -> None:
        while (batch := await queue.get()) is not None:
            await self.send(batch)

    async def run(self, path: Path, fmt: Format, default_site: str | None) -> Tally:
        lanes: list[asyncio.Queue[Batch | None]] = [
            asyncio.Queue(maxsize=4) for _ in range(self._options.concurrency)
        ]
        limit = min(self._options.batch_size, MAX_EVENTS)
        async with asyncio.TaskGroup() as group:
            for queue in lanes:
                group.create_task(self._lane(queue))

            async def dispatch(batch: Batch) -> None:
                lane = zlib.crc32(repr(batch.key).encode()) % len(lanes)
                await lanes[lane].put(batch)

            open_batches: dict[GroupKey, Batch] = {}
            for row in read_rows(path, fmt, default_site, int(time.time() * 1000)):
                self.tally.rows += 1
                if isinstance(row, RowError):
                    self.tally.bad_rows.append(str(row))
                    self._progress.advance(1)
                    continue
                key = (row.site, row.origin, row.ip, row.user_agent)
                batch = open_batches.setdefault(key, Batch(key))
                size = len(orjson.dumps(row.event)) + 1
                if batch.rows and batch.size + size > MAX_BODY_BYTES:
                    await dispatch(open_batches.pop(key))
                    batch = open_batches.setdefault(key, Batch(key))
                batch.rows.append(row)
                batch.size += size
                if len(batch.rows) >= limit:
                    await dispatch(open_batches.pop(key))
            for batch in open_batches.values():
                await dispatch(batch)
            for queue in lanes:
                await queue.put(None)
        return self.tally


async def replay(
    path: Path,
    fmt: Format,
    default_site: str | None,
    options: ReplayOptions,
    out: TextIO,
    show_progress: bool = True,
) -> Tally:
    total = count_rows(path, fmt)
    progress = Progress(total, out, enabled=show_progress)
    timeout = httpx.Timeout(options.request_timeout_s)
    limits = httpx.Limits(max_connections=options.concurrency)
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
        tally = await Replayer(options, client, progress).run(path, fmt, default_site)
    progress.finish()
    return tally
