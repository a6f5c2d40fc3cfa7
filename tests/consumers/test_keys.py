"""Bucket cover of a range: exact, and read on past now only where nothing can be yet."""

from __future__ import annotations

import random

from consumers.keys import MINUTES, Resolution, cover
from consumers.store import window_range


def minutes_of(buckets: list[tuple[Resolution, int]]) -> list[int]:
    out: list[int] = []
    for res, bucket in buckets:
        size = MINUTES[res]
        out += range(bucket * size, (bucket + 1) * size)
    return out


def test_a_closed_range_is_covered_exactly_by_the_fewest_buckets() -> None:
    rng = random.Random(7)
    for _ in range(300):
        first = rng.randrange(28_000_000, 29_000_000)
        last = first + rng.randrange(0, 40 * 1440)
        assert minutes_of(cover(first, last)) == list(range(first, last + 1))
    # Whole days and hours inside, minute buckets only on the ragged edges.
    assert cover(1440 - 2, 2 * 1440 + 61) == [
        ("m", 1438), ("m", 1439), ("d", 1), ("h", 48), ("m", 2940), ("m", 2941)
    ]  # fmt: skip


def test_a_range_up_to_now_reads_on_only_past_now_and_never_more_buckets() -> None:
    rng = random.Random(11)
    for _ in range(300):
        now = rng.randrange(28_000_000, 29_000_000)
        first = now - rng.randrange(0, 40 * 1440)
        read = minutes_of(cover(first, now, now))
        # Every minute of the range, then nothing but minutes after now.
        assert read[: now - first + 1] == list(range(first, now + 1))
        assert all(m > now for m in read[now - first + 1 :])
        assert len(cover(first, now, now)) <= len(cover(first, now))
    # A range that ended before now is read exactly.
    assert cover(100, 200, 500) == cover(100, 200)


def test_a_30_day_window_reads_today_from_one_bucket() -> None:
    now_ms = (20_000 * 1440 + 16 * 60 + 7) * 60_000  # 16:07 UTC
    first, last = window_range(30 * 1440, now_ms)
    buckets = cover(first, last, last)
    assert buckets[-1] == ("d", 20_000)
    # The window starts on the hour after 16:08 thirty days ago: hours 17-23 of that day, 29
    # whole days, then today in one bucket, where an exact cover needs 16 hours and 8 minutes.
    assert len(buckets) == 7 + 29 + 1
    assert len(cover(first, last)) == 7 + 29 + 16 + 8
