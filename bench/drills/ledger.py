"""The drills' load: beacons with unique ids, what was sent and acknowledged, what got counted."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, field

import httpx
from redis.asyncio import Redis

from bench.infra import SITE
from bench.records import beacon
from consumers.keys import counter_key

# Every drill event is a custom event named after its own id (bench.records.beacon, named=True):
# its counter field "custom:<id>" says how many times that one event was counted.
KIND = "custom"
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778"
)


@dataclass
class Ledger:
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    sent: set[str] = field(default_factory=set)
    accepted: set[str] = field(default_factory=set)
    refused: int = 0  # answers other than 2xx (retried)
    conn_errors: int = 0  # no answer at all (retried)
    statuses: dict[int, int] = field(default_factory=dict)
    started_ms: int = field(default_factory=lambda: int(time.time() * 1000))


@dataclass(frozen=True, slots=True)
class Tally:
    sent: int
    accepted: int
    counted: int  # sum of the drill's counters
    lost: int  # acknowledged, never counted
    doubled: int  # counted more than once (the excess)
    unacked_counted: int  # never acknowledged yet counted once: fine, the client would retry

    def line(self, name: str) -> str:
        return (
            f"{name:<18} sent {self.sent:>6}  accepted {self.accepted:>6}  counted "
            f"{self.counted:>6}  lost {self.lost:>3}  doubled {self.doubled:>3}"
        )


class Sender:
    """Posts `rate` beacons/s of `size` events until stopped; each is retried until 2xx."""

    def __init__(self, url: str, ledger: Ledger, *, rate: float = 20, size: int = 10) -> None:
        self.url = url
        self.ledger = ledger
        self.rate = rate
        self.size = size
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._seq = 0
        self._give_up_at = float("inf")

    async def run(self, client: httpx.AsyncClient) -> None:
        interval = 1 / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set():
            ids = [f"{self.ledger.run}-{self._seq}-{i}" for i in range(self.size)]
            self._seq += 1
            self.ledger.sent.update(ids)
            task = asyncio.create_task(self._deliver(client, ids, self._seq))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            next_at += interval
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), max(0, next_at - time.monotonic()))

    async def stop(self, retry_for: float = 60) -> None:
        """Stop sending new beacons; give pending ones `retry_for` s to be acknowledged."""
        self._stop.set()
        self._give_up_at = time.monotonic() + retry_for
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=retry_for + 20)

    async def _deliver(self, client: httpx.AsyncClient, ids: list[str], seq: int) -> None:
        delay = 0.2
        while time.monotonic() < self._give_up_at:
            body = beacon(SITE, ids, now_ms=int(time.time() * 1000), named=True)
            try:
                response = await client.post(self.url, content=body, headers=headers(seq))
            except httpx.HTTPError:
                self.ledger.conn_errors += 1
            else:
                code = response.status_code
                self.ledger.statuses[code] = self.ledger.statuses.get(code, 0) + 1
                if 200 <= code < 300:
                    self.ledger.accepted.update(ids)
                    return
                self.ledger.refused += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


def headers(n: int) -> dict[str, str]:
    """A browser's headers; the user agent varies so that the visitors (hash of IP + user agent)
    spread over every partition, as real traffic does."""
    return {
        "Content-Type": "text/plain;charset=UTF-8",
        "Origin": "https://shop.example.com",
        "User-Agent": f"{USER_AGENT}.{n % 500}",
    }


async def counts(redis: Redis, ledger: Ledger) -> dict[str, int]:
    """Every drill event's count, from the day buckets the drill's events fall in."""
    first_day = ledger.started_ms // 86_400_000 - 1
    last_day = int(time.time() * 1000) // 86_400_000
    prefix = f"{KIND}:{ledger.run}-"
    found: dict[str, int] = {}
    for day in range(first_day, last_day + 1):
        fields = await redis.hgetall(counter_key(SITE, "d", day))
        for raw, value in fields.items():
            name = raw.decode() if isinstance(raw, bytes) else raw
            if name.startswith(prefix):
                event_id = name[len(KIND) + 1 :]
                found[event_id] = found.get(event_id, 0) + int(value)
    return found


def tally(ledger: Ledger, found: dict[str, int]) -> Tally:
    return Tally(
        sent=len(ledger.sent),
        accepted=len(ledger.accepted),
        counted=sum(found.values()),
        lost=sum(1 for i in ledger.accepted if found.get(i, 0) == 0),
        doubled=sum(n - 1 for n in found.values() if n > 1),
        unacked_counted=sum(1 for i in ledger.sent - ledger.accepted if found.get(i, 0) > 0),
    )


async def drained(redis: Redis, ledger: Ledger, *, limit_s: float, settle_s: float = 3) -> Tally:
    """Wait until every accepted event is counted (or `limit_s` passed) and the count settled."""
    deadline = time.monotonic() + limit_s
    last, stable_since = -1, time.monotonic()
    while True:
        found = await counts(redis, ledger)
        result = tally(ledger, found)
        if result.counted != last:
            last, stable_since = result.counted, time.monotonic()
        complete = result.lost == 0
        if (complete and time.monotonic() - stable_since >= settle_s) or (
            time.monotonic() > deadline
        ):
            return result
        await asyncio.sleep(0.5)
