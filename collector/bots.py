"""Bots: crawlers, headless browsers, prerender services and empty user agents.

The patterns are the crawler-user-agents project's list (monperrus/crawler-user-agents, kept up
to date by its many contributors, shipped on PyPI), plus the few prerender services it lacks.
Bot events are kept, marked `bot`, and counted apart from humans.
"""

from __future__ import annotations

import functools
import re
from typing import Final

import crawleruseragents

# Prerender services and automation that the list does not name (checked against it).
EXTRA_PATTERNS: Final = ("Prerender", "prerender", "Rendertron", "Headless", "headless")
_CACHE_SIZE: Final = 8192


class BotDetector:
    def __init__(self) -> None:
        patterns = [entry["pattern"] for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA]
        # One alternation, compiled once at start-up; results are cached per user agent because
        # real traffic repeats a few thousand user agents endlessly.
        self._regex = re.compile("|".join([*patterns, *map(re.escape, EXTRA_PATTERNS)]))
        self.is_bot = functools.lru_cache(maxsize=_CACHE_SIZE)(self._match)

    def _match(self, user_agent: str) -> bool:
        return not user_agent.strip() or self._regex.search(user_agent) is not None
