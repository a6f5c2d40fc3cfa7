"""Visitor ids. Cookieless (the default): a keyed hash of (site, IP, user agent) whose salt
rotates daily. For a site whose tag keeps its own id (persist_visitor, the site owner's consent
duty): a keyed hash of (site, that id) under a key that never rotates, so the visitor lasts
across days while neither the id nor anything that could be looked up with it is kept.

The IP address and the client's id are used here, in memory, and nowhere else: only the hash
leaves this module.

Every collector behind one balancer must give a visitor the same id, so the day's salt lives in
Redis: the first collector to need it creates it with SET NX (a random 32 bytes), the others read
that one. The key expires an hour after its day ends, so old salts are deleted and nobody, not
even an operator with Redis access, can link a visitor's ids across days. Salts are fetched in the
background (today's at start-up, tomorrow's shortly before midnight) and cached in memory, so no
request ever waits on Redis. The key of persistent ids is made the same way (SET NX) under its own
Redis key, without expiry, and fetched with the salts. See docs/protocol.md for the design and its
failure mode.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from typing import Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from collector.tasks import cancel

logger = logging.getLogger(__name__)

DAY_S: Final = 86400
SALT_KEY: Final = "mcv:v1:collector:salt:{day}"
# The key of the hash of clients' own ids: made once, never expires (deleting it starts every
# persistent visitor over).
PERSISTENT_KEY: Final = "mcv:v1:collector:persistent-salt"
# A salt outlives its day by this much: collectors' clocks may disagree on when midnight is.
GRACE_S: Final = 3600
# Tomorrow's salt is fetched this long before the day turns, and the cache refreshed this often.
PREFETCH_S: Final = 600
REFRESH_S: Final = 60.0


def day_of(now: float) -> int:
    return int(now // DAY_S)


def salt_key(day: int) -> str:
    return SALT_KEY.format(day=day)


class DailySalts:
    """The shared salt of each UTC day, and the one that never rotates (for clients' own ids),
    created once in Redis and cached here."""

    def __init__(self, redis: Redis, timeout: float) -> None:
        self._redis = redis
        self._timeout = timeout
        self._salts: dict[int, bytes] = {}
        self._fallback: dict[int, bytes] = {}
        self._persistent: bytes | None = None
        self._persistent_fallback: bytes | None = None
        self.fallbacks = 0  # salts made locally because Redis did not answer
        self._task: asyncio.Task[None] | None = None

    async def _get_or_create(self, key: str, exat: int | None) -> bytes:
        """Create the salt if nobody has, and read the one that won."""
        async with asyncio.timeout(self._timeout):
            await self._redis.set(key, secrets.token_bytes(32), nx=True, exat=exat)
            salt = await self._redis.get(key)
        if not isinstance(salt, bytes) or len(salt) != 32:
            raise RedisError(f"{key} holds no salt")
        return salt

    async def fetch(self, day: int) -> bytes:
        return await self._get_or_create(salt_key(day), (day + 1) * DAY_S + GRACE_S)

    async def refresh(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        today = day_of(now)
        days = [today]
        if (today + 1) * DAY_S - now < PREFETCH_S:
            days.append(today + 1)
        for day in days:
            if day not in self._salts:
                try:
                    self._salts[day] = await self.fetch(day)
                except (RedisError, OSError, TimeoutError) as exc:
                    logger.warning("cannot fetch the visitor salt of day %d: %r", day, exc)
        if self._persistent is None:
            try:
                self._persistent = await self._get_or_create(PERSISTENT_KEY, None)
            except (RedisError, OSError, TimeoutError) as exc:
                logger.warning("cannot fetch the persistent visitor salt: %r", exc)
        # Yesterday's salt is forgotten here as soon as the day turns; Redis deletes its copy.
        for cache in (self._salts, self._fallback):
            for day in [d for d in cache if d < today]:
                del cache[day]

    def salt(self, day: int) -> bytes:
        salt = self._salts.get(day)
        if salt is not None:
            return salt
        # Redis was unreachable: count events under a salt of our own rather than refuse them.
        # Visitor ids then differ between collectors until the shared salt is fetched.
        fallback = self._fallback.get(day)
        if fallback is None:
            fallback = self._fallback[day] = secrets.token_bytes(32)
            self.fallbacks += 1
            logger.warning("no shared visitor salt for day %d: using a local one", day)
        return fallback

    def persistent(self) -> bytes:
        if self._persistent is not None:
            return self._persistent
        # As for a day's salt: a local one rather than refusing events. Persistent ids then
        # differ between collectors (and restarts) until the shared salt is fetched.
        if self._persistent_fallback is None:
            self._persistent_fallback = secrets.token_bytes(32)
            self.fallbacks += 1
            logger.warning("no shared persistent visitor salt: using a local one")
        return self._persistent_fallback

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            await self.refresh()

    async def start(self) -> None:
        await self.refresh()
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="visitor-salts")

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel(task)


class VisitorIds:
    def __init__(self, salts: DailySalts, pepper: bytes = b"") -> None:
        self._salts = salts
        self._pepper = pepper
        # (salt, hash key derived from it and the pepper): the day's, and the persistent one.
        self._key = (b"", b"")
        self._persistent_key = (b"", b"")

    def _keyed(self, salt: bytes, cached: tuple[bytes, bytes]) -> tuple[bytes, bytes]:
        if salt == cached[0]:
            return cached
        return (salt, hashlib.blake2b(self._pepper, key=salt, digest_size=32).digest())

    def _hash(self, parts: str, now: float | None) -> str:
        self._key = self._keyed(
            self._salts.salt(day_of(time.time() if now is None else now)), self._key
        )
        return hashlib.blake2b(parts.encode(), key=self._key[1], digest_size=8).hexdigest()

    def visitor_id(self, site: str, ip: str, user_agent: str, now: float | None = None) -> str:
        return self._hash(f"{site}\x00{ip}\x00{user_agent}", now)

    def user_visitor_id(self, site: str, user_id: str, now: float | None = None) -> str:
        """For server-side (Segment) calls: the caller's own user id, hashed like an IP."""
        return self._hash(f"{site}\x00\x01user\x00{user_id}", now)

    def client_visitor_id(self, site: str, client_id: str) -> str:
        """For a tag that keeps its own id (the beacon's "cid"): the same on every day."""
        self._persistent_key = self._keyed(self._salts.persistent(), self._persistent_key)
        parts = f"{site}\x00\x02client\x00{client_id}"
        return hashlib.blake2b(
            parts.encode(), key=self._persistent_key[1], digest_size=8
        ).hexdigest()
