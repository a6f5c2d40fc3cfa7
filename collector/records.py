"""Kafka records: what the collector writes to the events topic and the spool, and how readers
read it back. The beacon a record comes from is collector/schema.py's.

Version 1 is one event (the spool's line format, and older data in the topic):

    {"v": 1, "site", "vid", "id", "k", "n", "ts", "cts", "rt", "u", "r", "pv", "p", "bot"}

Version 2 (what the collector writes to Kafka) is a batch: the events of one key (site +
visitor), usually one request's, in one Kafka record so that they cost the producer and the
consumers one record instead of n:

    {"v": 2, "site": "<site>", "vid": "<visitor>",
     "e": [[id, kind, name, ts, cts, rt, url, referrer, pageview, props, bot], ...]}

Each array holds a Record's fields after site and visitor, in Record's order. The consumers read
both versions (decode_batch, decode_records); a batch is applied whole, with its one offset.
No record carries an IP address.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, NamedTuple

import orjson

from collector.schema import KINDS, Event, PropValue, SchemaError

EVENT_VERSION: Final = 1
BATCH_VERSION: Final = 2


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
            "v": EVENT_VERSION,
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
    if version == EVENT_VERSION:
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
    if doc.get("v") != EVENT_VERSION:
        raise SchemaError("bad_version", repr(doc.get("v"))[:20])
    return _v1_row(doc)


def decode_record(value: bytes | None) -> Record:
    """Read a version 1 Kafka record value back (old data; new code reads decode_records)."""
    return decode_row(value)
