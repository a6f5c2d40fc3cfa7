"""Cookieless visitor ids: a keyed hash of (day, site, IP, user agent) that rotates daily.

The IP address is used here, in memory, and nowhere else: only the hash leaves this module.
"""

from __future__ import annotations

import hashlib
import hmac
import time


class VisitorIds:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._day = -1
        self._salt = b""

    def _salt_for(self, day: int) -> bytes:
        # One salt per UTC day; yesterday's is dropped as soon as the day turns, so a visitor
        # cannot be followed across days.
        if day != self._day:
            self._salt = hmac.digest(self._secret, str(day).encode(), "sha256")
            self._day = day
        return self._salt

    def visitor_id(self, site: str, ip: str, user_agent: str, now: float | None = None) -> str:
        day = int((time.time() if now is None else now) // 86400)
        msg = f"{site}\x00{ip}\x00{user_agent}".encode()
        return hashlib.blake2b(msg, key=self._salt_for(day), digest_size=8).hexdigest()
