"""Bots: crawlers, headless browsers, prerender services and empty user agents.

The patterns are the crawler-user-agents project's list (monperrus/crawler-user-agents, kept up
to date by its many contributors, shipped on PyPI), plus the few prerender services it lacks.
Bot events are kept, marked `bot`, and counted apart from humans.

Matching ~1,500 regexes against a user agent costs about a millisecond, so a cheap screen comes
first. Every pattern has a literal (three characters or more) that each of its matches contains,
or a set of literals one of which each match contains (an alternation); the literals are found by
parsing the patterns at start-up. A user agent containing none of them matches no pattern: one
search of a trie-shaped regex of all the literals says so in microseconds, which is the answer
for every normal browser. Otherwise only the patterns whose literals occur are run.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

# The stdlib's own regex parser: the one way to read a pattern exactly as `re` does. Private but
# stable since 3.11; tests/collector/test_bots.py checks the screen keeps every verdict.
from re import _constants as sre  # type: ignore[attr-defined]  # no stub for a private module
from re import _parser as sre_parse  # type: ignore[attr-defined]  # no stub for a private module
from typing import Any, Final

import crawleruseragents

# Prerender services and automation that the list does not name (checked against it).
EXTRA_PATTERNS: Final = ("Prerender", "prerender", "Rendertron", "Headless", "headless")
_CACHE_SIZE: Final = 8192
# Literals shorter than this screen too little (and the gram index needs this many characters).
MIN_LITERAL: Final = 3


def list_patterns() -> list[str]:
    return [
        *(entry["pattern"] for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA),
        *map(re.escape, EXTRA_PATTERNS),
    ]


class BotDetector:
    def __init__(self, patterns: Iterable[str] | None = None) -> None:
        self.patterns = list_patterns() if patterns is None else list(patterns)
        # literal -> the patterns it screens, and the patterns no literal screens (run always).
        by_literal: dict[str, list[re.Pattern[str]]] = {}
        unscreened: list[str] = []
        for pattern in self.patterns:
            literals = required_literals(pattern)
            if literals is None or min(map(len, literals)) < MIN_LITERAL:
                unscreened.append(pattern)
                continue
            compiled = re.compile(pattern)
            for literal in literals:
                by_literal.setdefault(literal, []).append(compiled)
        self._screen = re.compile(_trie_regex(by_literal)) if by_literal else None
        # Second stage, after the screen has hit: literals by their first MIN_LITERAL characters.
        self._by_gram: dict[str, dict[str, list[re.Pattern[str]]]] = {}
        for literal, compiled_patterns in by_literal.items():
            self._by_gram.setdefault(literal[:MIN_LITERAL], {})[literal] = compiled_patterns
        self._unscreened = re.compile("|".join(unscreened)) if unscreened else None
        # Results are cached per user agent: real traffic repeats a few thousand endlessly.
        self.is_bot = functools.lru_cache(maxsize=_CACHE_SIZE)(self._match)

    def _match(self, user_agent: str) -> bool:
        if not user_agent.strip():
            return True
        if self._unscreened is not None and self._unscreened.search(user_agent):
            return True
        if self._screen is None or self._screen.search(user_agent) is None:
            return False  # the usual answer: no pattern's literal occurs
        n = MIN_LITERAL
        grams = {user_agent[i : i + n] for i in range(len(user_agent) - n + 1)}
        for gram in grams & self._by_gram.keys():
            for literal, compiled_patterns in self._by_gram[gram].items():
                if literal in user_agent and any(p.search(user_agent) for p in compiled_patterns):
                    return True
        return False


def required_literals(pattern: str) -> list[str] | None:
    """Literals one of which every match of `pattern` contains (the longest such choice found),
    or None when none can be told (flags that change how literals match, for instance)."""
    parsed = sre_parse.parse(pattern)
    if parsed.state.flags & (re.IGNORECASE | re.VERBOSE):
        return None
    return _factors(list(parsed))


def _factors(items: list[tuple[Any, Any]]) -> list[str] | None:
    """For a parsed sequence: each item is matched in turn, so any item's own required literals
    (or a run of consecutive literal characters) are required by the whole; the best one is
    the choice whose shortest literal is longest."""
    best: list[str] | None = None
    run: list[str] = []

    def consider(candidate: list[str] | None) -> None:
        nonlocal best
        if candidate and (best is None or min(map(len, candidate)) > min(map(len, best))):
            best = candidate

    def end_run() -> None:
        if run:
            consider(["".join(run)])
            run.clear()

    for op, av in items:
        if op is sre.LITERAL:
            run.append(chr(av))
            continue
        if op is sre.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            if add_flags or del_flags:
                end_run()  # (?i:...) and the like: its characters are not literal
            elif all(o is sre.LITERAL for o, _ in sub):
                run.extend(chr(a) for _, a in sub)  # a group of plain characters continues a run
            else:
                end_run()
                consider(_factors(list(sub)))
            continue
        end_run()
        if op is sre.BRANCH:
            alternatives = [_factors(list(branch)) for branch in av[1]]
            if all(alternatives):
                consider([lit for alt in alternatives if alt for lit in alt])
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT) and av[0] >= 1:
            consider(_factors(list(av[2])))
        elif op is sre.ATOMIC_GROUP:
            consider(_factors(list(av)))
    end_run()
    return best


def _trie_regex(literals: Iterable[str]) -> str:
    """One regex matching wherever any literal occurs, shaped as a trie so `re` walks a handful
    of branches per position instead of trying every literal."""
    trie: dict[str, Any] = {}
    for literal in literals:
        node = trie
        for char in literal:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        if "" in node:
            return ""  # a literal ends here: its longer extensions add nothing to a search
        alternatives = [re.escape(char) + build(sub) for char, sub in sorted(node.items())]
        return alternatives[0] if len(alternatives) == 1 else f"(?:{'|'.join(alternatives)})"

    return build(trie)
