"""The wire schema, version 1: what a beacon looks like and what a Kafka record looks like.

This module is the only one that knows either format. The collector turns beacons into records
with `parse_beacon` + `make_record`; the consumers read records back with `decode_record`.

Beacon (what the tag sends; short keys because every byte of the tag counts)::

    {"v": 1, "s": "<site>", "t": <send time, ms>, "e": [<event>, ...]}

or a single event with the envelope keys beside it: {"v": 1, "s": "<site>", "i": ..., "k": ...}.

Event::

    {"i": "<client-made unique id>", "k": "<kind>", "n": "<name>"?, "ts": <event time, ms>,
     "u": "<page url>", "r": "<referrer>"?, "pv": "<pageview id>"?, "p": {<props>}?}

A batch with some bad events: the good ones are accepted, each bad one is reported by index and
reason (and counted in a metric); a batch with no good event is refused as a whole.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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
# Event time is corrected for client clock skew and must fall in [receive - MAX_AGE, receive].
MAX_AGE_MS: Final = 24 * 3600 * 1000

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


class Record(NamedTuple):
    """One event as it travels through Kafka: enriched, time-corrected, without any IP address.

    The order of the fields is the batch format's (site and visitor first, then each event's
    array): do not reorder them."""

    site: str
    visitor: str
    id: str
    kind: str
    name: str
    ts: int  # corrected event time, ms since the epoch
    client_ts: int  # event time on the client's clock: the same on every retry of the event
    received: int
    url: str
    referrer: str
    pageview: str
    props: dict[str, PropValue]
    bot: bool


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
    # bool is an int subclass; a timestamp of `true` is a bug, not a time.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SchemaError(f"bad_{key}", "must be a number of milliseconds")
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
    if version != VERSION:
        raise SchemaError("bad_version", f"this collector speaks version {VERSION}")
    site = _str(doc, "s", MAX_SITE_ID_LEN, required=True)
    sent_at = _int(doc, "t")
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
    return Beacon(site=site, sent_at=sent_at, events=events, rejected=rejected)


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


def make_record(
    event: Event, *, site: str, visitor: str, ts: int, received: int, bot: bool
) -> Record:
    return Record(
        site,
        visitor,
        event.id,
        event.kind,
        event.name,
        ts,
        event.ts,
        received,
        event.url,
        event.referrer,
        event.pageview,
        event.props,
        bot,
    )


# Kafka record values. Version 1 is one event; version 2 (what the collector writes) is a batch:
# the events of one key (site + visitor), usually one request's, in one Kafka record so that
# they cost the producer and the consumers one record instead of n:
#
#   {"v": 2, "site": "<site>", "vid": "<visitor>",
#    "e": [[id, kind, name, ts, cts, rt, url, referrer, pageview, props, bot], ...]}
#
# Each array holds a Record's fields after site and visitor, in Record's order. The consumers
# read both versions (decode_batch, decode_records); a batch is applied whole, with its one offset.
BATCH_VERSION: Final = 2
_BATCH_TYPES: Final = (str, str, str, int, int, int, str, str, str, dict, bool)
# One event of a batch record, as decode_batch gives it: [id, kind, name, ts, cts, rt, url,
# referrer, pageview, props, bot].
EventRow = list[Any]


def record_key(record: Record) -> bytes:
    """Partition key: site + visitor, so one visitor's events stay in order on one partition."""
    return f"{record.site}|{record.visitor}".encode()


def encode_record(record: Record) -> bytes:
    """One event as a version 1 record (the spool's line format)."""
    return orjson.dumps(
        {
            "v": VERSION,
            "site": record.site,
            "vid": record.visitor,
            "id": record.id,
            "k": record.kind,
            "n": record.name,
            "ts": record.ts,
            "cts": record.client_ts,
            "rt": record.received,
            "u": record.url,
            "r": record.referrer,
            "pv": record.pageview,
            "p": record.props,
            "bot": record.bot,
        }
    )


def encode_batch(records: Sequence[Record]) -> bytes:
    """Records of one key (the same site and visitor) as one version 2 record."""
    first = records[0]
    return orjson.dumps(
        {
            "v": BATCH_VERSION,
            "site": first.site,
            "vid": first.visitor,
            "e": [r[2:] for r in records],
        }
    )


# Kept for the consumers' imports: a decoded record is a Record.
RecordRow = Record


def _load_record(value: bytes | None) -> dict[str, Any]:
    if value is None:
        raise SchemaError("empty_record")
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise SchemaError("bad_json", str(exc)[:100]) from None
    if type(doc) is not dict:  # orjson makes exact types, never subclasses
        raise SchemaError("bad_record", "not an object")
    return doc


def _v1_row(doc: dict[str, Any]) -> Record:
    try:
        site, visitor, event_id = doc["site"], doc["vid"], doc["id"]
        kind, name, ts, received = doc["k"], doc["n"], doc["ts"], doc["rt"]
        client_ts = doc["cts"]
    except KeyError as exc:
        raise SchemaError("missing_field", str(exc)) from None
    props = doc.get("p") or {}
    if not (
        type(site) is str
        and type(visitor) is str
        and type(event_id) is str
        and type(kind) is str
        and type(name) is str
        and isinstance(ts, int)
        and isinstance(received, int)
        and isinstance(client_ts, int)
        and type(props) is dict
    ):
        raise SchemaError("bad_field_type")
    if kind not in KINDS:
        raise SchemaError("unknown_kind", kind[:32])
    return Record(
        site,
        visitor,
        event_id,
        kind,
        name,
        ts,
        client_ts,
        received,
        str(doc.get("u", "")),
        str(doc.get("r", "")),
        str(doc.get("pv", "")),
        props,
        bool(doc.get("bot", False)),
    )


def _v2_events(doc: dict[str, Any]) -> tuple[str, str, list[EventRow]]:
    site, visitor, events = doc.get("site"), doc.get("vid"), doc.get("e")
    if type(site) is not str or type(visitor) is not str or type(events) is not list or not events:
        raise SchemaError("bad_batch")
    for e in events:
        # A bad event makes the whole record bad: the collector never writes one, so it is
        # damage, and the record goes to the dead letters whole. orjson makes exact types, so
        # one comparison of the fields' types checks them all (and the length).
        if type(e) is not list or tuple(map(type, e)) != _BATCH_TYPES or e[1] not in KINDS:
            raise SchemaError("bad_batch_event")
    return site, visitor, events


def decode_batch(value: bytes | None) -> tuple[str, str, list[EventRow]]:
    """A Kafka record value of either version as (site, visitor, events), each event the array
    it travels in (a Record's fields after site and visitor): for readers that want no object
    per event. Raises SchemaError for anything else (the whole record)."""
    doc = _load_record(value)
    version = doc.get("v")
    if version == BATCH_VERSION:
        return _v2_events(doc)
    if version == VERSION:
        row = _v1_row(doc)
        return row.site, row.visitor, [list(row[2:])]
    raise SchemaError("bad_version", repr(version)[:20])


def decode_records(value: bytes | None) -> list[Record]:
    """Every event of a Kafka record value, of either version. Raises SchemaError for anything
    else (the whole record)."""
    site, visitor, events = decode_batch(value)
    return [Record(site, visitor, *e) for e in events]


def decode_row(value: bytes | None) -> Record:
    """Read a version 1 Kafka record value back. Raises SchemaError for anything else."""
    doc = _load_record(value)
    if doc.get("v") != VERSION:
        raise SchemaError("bad_version", repr(doc.get("v"))[:20])
    return _v1_row(doc)


def decode_record(value: bytes | None) -> Record:
    """Read a version 1 Kafka record value back (old data; new code reads decode_records)."""
    return decode_row(value)
