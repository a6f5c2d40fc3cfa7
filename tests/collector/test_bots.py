"""The bot screen keeps the list's verdicts: every example the crawler-user-agents project gives
for its patterns is a bot, real browsers are not, and the screened detector answers exactly as
the plain alternation of all patterns does."""

from __future__ import annotations

import re
from pathlib import Path

import crawleruseragents
import pytest

from collector.bots import BotDetector, list_patterns, required_literals

BROWSERS = Path(__file__).with_name("browser_user_agents.txt")


def browser_user_agents() -> list[str]:
    lines = BROWSERS.read_text().splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def instances() -> list[str]:
    data = crawleruseragents.CRAWLER_USER_AGENTS_DATA
    return [ua for entry in data for ua in entry["instances"]]


def test_every_example_of_every_pattern_is_a_bot() -> None:
    detector = BotDetector()
    examples = instances()
    assert len(examples) > 2000
    assert [ua for ua in examples if not detector.is_bot(ua)] == []


def test_real_browsers_are_not_bots() -> None:
    detector = BotDetector()
    browsers = browser_user_agents()
    assert len(browsers) > 80
    assert [ua for ua in browsers if detector.is_bot(ua)] == []


def test_the_screen_changes_no_verdict() -> None:
    detector = BotDetector()
    plain = re.compile("|".join(list_patterns()))
    # Browsers, bots, and each bot example cut in two: halves hit the screen's literals without
    # matching their pattern, the case where a wrong screen would show.
    examples = instances()
    halves = [h for ua in examples for h in (ua[: len(ua) // 2], ua[len(ua) // 2 :])]
    for ua in [*browser_user_agents(), *examples, *halves]:
        assert detector.is_bot(ua) is (not ua.strip() or plain.search(ua) is not None), ua


def test_every_listed_pattern_is_screened() -> None:
    # A pattern without a literal would be run for every user agent; none is today.
    for pattern in list_patterns():
        literals = required_literals(pattern)
        assert literals is not None and min(map(len, literals)) >= 3, pattern


@pytest.mark.parametrize(
    ("pattern", "literals"),
    [
        (r"Googlebot\/", ["Googlebot/"]),
        ("[wW]get", ["get"]),
        ("^Mozilla/5.0 (compatible; ABC)", ["0 compatible; ABC"]),  # a group of literals joins
        ("(?:Yandex|Baidu)spider", ["spider"]),
        ("(?:YandexBot|BaiduSpider)", ["YandexBot", "BaiduSpider"]),
        ("x(?:ab)+yz", ["ab"]),  # a repeat cuts the run; once is required
        ("(?i)bot", None),
    ],
)
def test_required_literals(pattern: str, literals: list[str] | None) -> None:
    assert required_literals(pattern) == literals


def test_a_pattern_without_a_literal_is_still_matched() -> None:
    detector = BotDetector(["(?i)crawl", "Googlebot"])
    assert detector.is_bot("MyCRAWLER/1.0")
    assert detector.is_bot("Googlebot/2.1")
    assert not detector.is_bot("Mozilla/5.0 Firefox/133.0")
    assert detector.is_bot("  ")  # an empty user agent
