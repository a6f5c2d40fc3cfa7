"""The beacon wire schema, version 1: what the tag (and any client) may send the collector.

This module is the only one that knows the beacon format, its limits and the event kinds; the
collector parses beacons with `parse_beacon`. What a Kafka record looks like is
collector/records.py's (it builds records from parsed events with `make_record`).

Beacon (what the tag sends; short keys because every byte of the tag counts)::

    {"v": 1, "s": "<site>", "t": <send time, ms>, "cid": "<client id>"?, "e": [<event>, ...]}

or a single event with the envelope keys beside it: {"v": 1, "s": "<site>", "i": ..., "k": ...}.

Event::

    {"i": "<client-made unique id>", "k": "<kind>", "n": "<name>"?, "ts": <event time, ms>,
     "u": "<page url>", "r": "<referrer>"?, "pv": "<pageview id>"?, "p": {<props>}?}

A batch with some bad events: the good ones are accepted, each bad one is reported by index and
reason (and counted in a metric); a batch with no good event is refused as a whole.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import orjson

from snippet.sites import MAX_SITE_ID_LEN

VERSION: Final = 1

KINDS: Final = frozenset(
    {
        "pageview",
        "click",
        "scroll",
        "download",
        "outbound",
        "custom",
        "form_start",
        "form_submit",
        "form_abandon",
        "visible",
        "engaged",
        "rage_click",
        "dead_click",
        "variant",
        # Segment's identify call (collector/segment.py); its traits are never kept.
        "identify",
    }
)

# Limits. Each is documented in docs/protocol.md and has a test.
MAX_BODY_BYTES: Final = 64 * 1024  # what sendBeacon / keepalive fetch may carry in flight
# Segment's own limit is 500 KB per batch; its Python client stays under 475,000 bytes.
MAX_SEGMENT_BODY_BYTES: Final = 512 * 1024
# Objects and arrays nested deeper than this are refused: a beacon needs 4, Segment's context ~6.
MAX_DEPTH: Final = 16
MAX_EVENTS: Final = 100
MAX_ID_LEN: Final = 64
MAX_NAME_LEN: Final = 100
MAX_URL_LEN: Final = 2048
MAX_PROPS: Final = 20
MAX_PROP_KEY_LEN: Final = 64
MAX_PROP_VALUE_LEN: Final = 500
# A client's own visitor id ("cid", sent by a tag with persist_visitor on): opaque, never kept as
# it is (collector/visitor.py hashes it).
CLIENT_ID: Final = re.compile(r"[A-Za-z0-9_-]{8,64}")
# Event time is corrected for client clock skew and must fall in [receive - MAX_AGE, receive].
MAX_AGE_MS: Final = 24 * 3600 * 1000
MAX_TIME_MS: Final = 2**53  # JavaScript's safe integers; NaN and the infinities fail 0 <= x < it

PropValue = str | int | float | bool


class SchemaError(ValueError):
    """Input that does not follow the wire schema; `reason` is a short, stable metric label."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class Event(NamedTuple):
    # NamedTuples, not frozen dataclasses, for what is made per event: several times cheaper to
    # build, and read the same way.
    id: str
    kind: str
    name: str
    ts: int  # client clock, ms
    url: str
    referrer: str
    pageview: str
    props: dict[str, PropValue]


@dataclass(frozen=True, slots=True)
class Beacon:
    site: str
    sent_at: int | None
    events: list[Event]
    rejected: list[tuple[int, str]]  # (index in the batch, reason)
    client_id: str = ""  # "cid": the client's persistent visitor id, "" when it sent none


def _str(obj: dict[str, Any], key: str, max_len: int, *, required: bool = False) -> str:
    value = obj.get(key)
    if value is None:
        if required:
            raise SchemaError(f"missing_{key}")
        return ""
    if not isinstance(value, str):
        raise SchemaError(f"bad_{key}", "must be a string")
    if len(value) > max_len:
        raise SchemaError(f"long_{key}", f"at most {max_len} characters")
    return value


def _int(obj: dict[str, Any], key: str, *, required: bool = False) -> int | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise SchemaError(f"missing_{key}")
        return None
    # bool is an int subclass; a timestamp of `true` is a bug, not a time. A JavaScript time is
    # a safe integer; a larger one would not even fit the record's 64-bit fields.
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value < MAX_TIME_MS
    ):
        raise SchemaError(f"bad_{key}", f"must be a number of milliseconds, 0 to {MAX_TIME_MS - 1}")
    return int(value)


def _props(obj: dict[str, Any]) -> dict[str, PropValue]:
    raw = obj.get("p")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SchemaError("bad_p", "props must be an object")
    if len(raw) > MAX_PROPS:
        raise SchemaError("too_many_props", f"at most {MAX_PROPS}")
    if (
        type(raw) is dict
        and all(
            (type(v) is str and len(v) <= MAX_PROP_VALUE_LEN)
            or type(v) is int
            or type(v) is bool
            or (type(v) is float and math.isfinite(v))
            for v in raw.values()
        )
        and all(len(k) <= MAX_PROP_KEY_LEN for k in raw)
    ):
        return raw  # valid as it is (orjson made it for this request alone): no copy
    props: dict[str, PropValue] = {}
    for k, v in raw.items():
        if len(k) > MAX_PROP_KEY_LEN:
            raise SchemaError("long_prop_key", f"at most {MAX_PROP_KEY_LEN} characters")
        if isinstance(v, str):
            if len(v) > MAX_PROP_VALUE_LEN:
                raise SchemaError("long_prop_value", f"at most {MAX_PROP_VALUE_LEN} characters")
        elif isinstance(v, float):
            if not math.isfinite(v):
                raise SchemaError("bad_prop_value", "numbers must be finite")
        elif not isinstance(v, int | bool):
            raise SchemaError("bad_prop_value", "values are strings, numbers or booleans")
        props[k] = v
    return props


def parse_event(obj: Any) -> Event:
    """Validate one event in the beacon's format. Raises SchemaError."""
    if type(obj) is dict:  # orjson makes exact types
        # The usual event, checked inline; anything else takes the path below, which names
        # the reason. Both accept exactly the same events.
        get = obj.get
        i, k, n, ts, u, r, pv, p = (
            get("i"), get("k"), get("n"), get("ts"), get("u"), get("r"), get("pv"), get("p")
        )  # fmt: skip
        if (
            type(i) is str
            and 0 < len(i) <= MAX_ID_LEN
            and k in KINDS
            and type(ts) is int
            and 0 <= ts < MAX_TIME_MS
            and type(u) is str
            and len(u) <= MAX_URL_LEN
            and (n is None or (type(n) is str and len(n) <= MAX_NAME_LEN))
            and (r is None or (type(r) is str and len(r) <= MAX_URL_LEN))
            and (pv is None or (type(pv) is str and len(pv) <= MAX_ID_LEN))
        ):
            return Event(i, k, n or "", ts, u, r or "", pv or "", {} if p is None else _props(obj))
    return _parse_event(obj)


def _parse_event(obj: Any) -> Event:
    if not isinstance(obj, dict):
        raise SchemaError("bad_event", "an event is an object")
    event_id = _str(obj, "i", MAX_ID_LEN, required=True)
    if not event_id:
        raise SchemaError("missing_i")
    kind = _str(obj, "k", 32, required=True)
    if kind not in KINDS:
        raise SchemaError("unknown_kind", kind[:32])
    ts = _int(obj, "ts", required=True)
    assert ts is not None
    return Event(
        id=event_id,
        kind=kind,
        name=_str(obj, "n", MAX_NAME_LEN),
        ts=ts,
        url=_str(obj, "u", MAX_URL_LEN, required=True),
        referrer=_str(obj, "r", MAX_URL_LEN),
        pageview=_str(obj, "pv", MAX_ID_LEN),
        props=_props(obj),
    )


def _too_deep(doc: Any) -> bool:
    # Iterative, so a hostile document cannot exhaust the stack; only containers are visited.
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > MAX_DEPTH:
                    return True
                stack.append((child, depth + 1))
    return False


def load_json(body: bytes) -> Any:
    """Strict JSON: UTF-8 only, no NaN or Infinity, no lone surrogate (escaped or raw), at most
    MAX_DEPTH levels of nesting. The one JSON reader for every input the collector takes."""
    if not body:
        raise SchemaError("empty_body")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise SchemaError("bad_json", str(exc)[:100]) from None
    # Each level of nesting needs an opening bracket: with few in the text (strings included,
    # which only overcounts) the document cannot be too deep, and the walk is skipped.
    if (
        isinstance(doc, dict | list)
        and body.count(b"{") + body.count(b"[") > MAX_DEPTH
        and _too_deep(doc)
    ):
        raise SchemaError("too_deep", f"at most {MAX_DEPTH} levels of nesting")
    return doc


def parse_beacon(body: bytes) -> Beacon:
    """Parse and validate a beacon body (JSON text). Raises SchemaError for a bad envelope."""
    if len(body) > MAX_BODY_BYTES:
        raise SchemaError("body_too_large", f"at most {MAX_BODY_BYTES} bytes")
    doc = load_json(body)
    if not isinstance(doc, dict):
        raise SchemaError("bad_envelope", "a beacon is a JSON object")
    version = doc.get("v", VERSION)
    # `true == 1` in Python; the schema's version is the number 1.
    if isinstance(version, bool) or version != VERSION:
        raise SchemaError("bad_version", f"this collector speaks version {VERSION}")
    site = _str(doc, "s", MAX_SITE_ID_LEN, required=True)
    sent_at = _int(doc, "t")
    client_id = doc.get("cid")
    if client_id is not None and not (
        isinstance(client_id, str) and CLIENT_ID.fullmatch(client_id)
    ):
        raise SchemaError("bad_cid", "8-64 of A-Z a-z 0-9 _ -")
    items = doc.get("e", [doc])
    if not isinstance(items, list) or not items:
        raise SchemaError("bad_events", "e must be a non-empty list")
    if len(items) > MAX_EVENTS:
        raise SchemaError("too_many_events", f"at most {MAX_EVENTS} per request")
    events: list[Event] = []
    rejected: list[tuple[int, str]] = []
    for index, item in enumerate(items):
        try:
            events.append(parse_event(item))
        except SchemaError as exc:
            rejected.append((index, exc.reason))
    return Beacon(
        site=site, sent_at=sent_at, events=events, rejected=rejected, client_id=client_id or ""
    )


def corrected_time(event_ts: int, sent_at: int | None, received: int) -> int | None:
    """Event time on the server's clock, or None when it falls outside the accepted window.

    The client clock may be off by any amount, but the gap between an event and its send is
    measured on that one clock, so receive - (send - event) is right within the network delay.
    """
    ts = received - (sent_at - event_ts) if sent_at is not None else event_ts
    if ts > received:
        return received  # never place an event in a future bucket
    if ts < received - MAX_AGE_MS:
        return None
    return ts
