"""Unit tests of the beacon wire schema: strict JSON, every limit, time correction."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from collector import schema
from collector.schema import (
    MAX_AGE_MS,
    MAX_DEPTH,
    SchemaError,
    corrected_time,
    load_json,
    parse_beacon,
)


def ev(**over: Any) -> dict[str, Any]:
    return {"i": "e1", "k": "click", "n": "buy", "ts": 1000, "u": "http://x/", **over}


def body(events: list[Any], **over: Any) -> bytes:
    return orjson.dumps({"v": 1, "s": "shop", "t": 2000, "e": events, **over})


def reason(data: bytes) -> str:
    with pytest.raises(SchemaError) as info:
        parse_beacon(data)
    return info.value.reason


@pytest.mark.parametrize(
    "text",
    [
        b"NaN",
        b"[Infinity]",
        b"[-Infinity]",
        b"[1e999]",
        b'"\\ud800"',
        b'"\\udc00x"',
        b"\xed\xa0\x80",
    ],
)
def test_strict_json_refuses_non_finite_numbers_and_lone_surrogates(text: bytes) -> None:
    with pytest.raises(SchemaError) as info:
        load_json(text)
    assert info.value.reason == "bad_json"


def test_a_surrogate_pair_is_one_character_and_kept() -> None:
    assert load_json(b'"\\ud83d\\ude00"') == "\U0001f600"


def test_nesting_is_capped() -> None:
    assert load_json(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None
    deeper = b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)
    with pytest.raises(SchemaError) as info:
        load_json(deeper)
    assert info.value.reason == "too_deep"
    # Far past orjson's own recursion limit: still a clean SchemaError.
    with pytest.raises(SchemaError):
        load_json(b"[" * 5000 + b"]" * 5000)


def test_envelope_errors() -> None:
    assert reason(b"") == "empty_body"
    assert reason(b"[]") == "bad_envelope"
    assert reason(orjson.dumps({"v": 2, "s": "x", "e": [ev()]})) == "bad_version"
    assert reason(orjson.dumps({"v": True, "s": "x", "e": [ev()]})) == "bad_version"
    # A send time past JavaScript's safe integers would not fit the record's 64-bit fields.
    assert reason(orjson.dumps({"v": 1, "s": "x", "t": 1e300, "e": [ev()]})) == "bad_t"
    assert reason(orjson.dumps({"v": 1, "s": "x", "t": -1, "e": [ev()]})) == "bad_t"
    assert reason(orjson.dumps({"v": 1, "e": [ev()]})) == "missing_s"
    assert reason(body([])) == "bad_events"
    assert reason(body([ev()] * (schema.MAX_EVENTS + 1))) == "too_many_events"
    assert reason(b"x" * (schema.MAX_BODY_BYTES + 1)) == "body_too_large"
    assert reason(orjson.dumps({"v": 1, "s": "x" * 65, "e": [ev()]})) == "long_s"


@pytest.mark.parametrize(
    ("over", "expected"),
    [
        ({"i": ""}, "missing_i"),
        ({"i": "x" * (schema.MAX_ID_LEN + 1)}, "long_i"),
        ({"k": "nope"}, "unknown_kind"),
        ({"ts": True}, "bad_ts"),
        ({"ts": "1"}, "bad_ts"),
        ({"ts": 1e300}, "bad_ts"),
        ({"ts": 2**53}, "bad_ts"),
        ({"ts": -1}, "bad_ts"),
        ({"n": "x" * (schema.MAX_NAME_LEN + 1)}, "long_n"),
        ({"u": "x" * (schema.MAX_URL_LEN + 1)}, "long_u"),
        ({"r": "x" * (schema.MAX_URL_LEN + 1)}, "long_r"),
        ({"p": {f"k{i}": i for i in range(schema.MAX_PROPS + 1)}}, "too_many_props"),
        ({"p": {"k" * (schema.MAX_PROP_KEY_LEN + 1): 1}}, "long_prop_key"),
        ({"p": {"k": "v" * (schema.MAX_PROP_VALUE_LEN + 1)}}, "long_prop_value"),
        ({"p": {"k": [1]}}, "bad_prop_value"),
        ({"p": []}, "bad_p"),
    ],
)
def test_each_event_limit_rejects_the_event_by_reason(over: dict[str, Any], expected: str) -> None:
    beacon = parse_beacon(body([ev(i="good"), ev(**over)]))
    assert [e.id for e in beacon.events] == ["good"]
    assert beacon.rejected == [(1, expected)]


def test_limits_at_their_maximum_pass() -> None:
    at_max = ev(
        i="i" * schema.MAX_ID_LEN,
        n="n" * schema.MAX_NAME_LEN,
        u="u" * schema.MAX_URL_LEN,
        p={f"{i:0{schema.MAX_PROP_KEY_LEN}d}": "v" * schema.MAX_PROP_VALUE_LEN for i in range(20)},
    )
    beacon = parse_beacon(body([at_max, ev()]))
    assert len(beacon.events) == 2 and not beacon.rejected
    small = parse_beacon(body([ev(i=str(i)) for i in range(schema.MAX_EVENTS)]))
    assert len(small.events) == schema.MAX_EVENTS


def test_the_client_id_is_optional_and_opaque() -> None:
    assert parse_beacon(body([ev()])).client_id == ""
    kept = "1234567890" * 4  # what the tag makes: 128 random bits as decimal digits
    assert parse_beacon(body([ev()], cid=kept)).client_id == kept
    assert parse_beacon(body([ev()], cid="aZ_-" * 16)).client_id == "aZ_-" * 16
    # Anything else refuses the request: a visitor id that is not opaque (an e-mail address),
    # too short to be random, too long, or not a string.
    for bad in ("ana@example.com", "1234567", "x" * 65, 12345678901234567890, ""):
        assert reason(body([ev()], cid=bad)) == "bad_cid"


def test_a_single_event_without_a_batch() -> None:
    beacon = parse_beacon(orjson.dumps({"v": 1, "s": "shop", **ev()}))
    assert [e.id for e in beacon.events] == ["e1"]


def test_event_time_is_corrected_for_the_client_clock_and_clamped() -> None:
    now = int(time.time() * 1000)
    # Client clock 1 h behind: an event 5 s before the send lands 5 s before receipt.
    skew = 3_600_000
    assert corrected_time(now - skew - 5000, now - skew, now) == now - 5000
    # An event "after" its send (a broken clock) never lands in a future bucket.
    assert corrected_time(now + 60_000, now, now) == now
    assert corrected_time(now + 60_000, None, now) == now
    # Older than the window: dropped.
    assert corrected_time(now - MAX_AGE_MS - 1, now, now) is None
    assert corrected_time(now - MAX_AGE_MS, now, now) == now - MAX_AGE_MS
