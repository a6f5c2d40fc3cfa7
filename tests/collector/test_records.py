"""Unit tests of the Kafka records: both versions round trip byte for byte, damage is refused
whole, and the record names still import from collector.schema (for importers not yet moved)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from collector import records, schema
from collector.records import (
    decode_record,
    decode_records,
    encode_batch,
    encode_record,
    make_record,
)
from collector.schema import SchemaError


def ev(**over: Any) -> dict[str, Any]:
    return {"i": "e1", "k": "click", "n": "buy", "ts": 1000, "u": "http://x/", **over}


def test_non_ascii_round_trips_byte_for_byte_through_a_record() -> None:
    name = "ajout_au_panier_🛒_日本語_é"
    url = "https://exemple.fr/café/🎉?q=ü"
    event = schema.parse_event(ev(n=name, u=url, p={"títle": "Ça va ✓"}))
    record = make_record(event, site="shop", visitor="v", ts=1, received=2, bot=False)
    raw = encode_record(record)
    assert name.encode() in raw and url.encode() in raw  # UTF-8 as it is, not \\u escapes
    assert decode_record(raw) == record


def test_decode_record_is_tolerant_of_what_this_version_writes() -> None:
    event = schema.parse_event(ev())
    record = make_record(event, site="s", visitor="v", ts=1, received=2, bot=True)
    doc = orjson.loads(encode_record(record))
    for optional in ("u", "r", "pv", "p", "bot"):
        doc.pop(optional)
    back = decode_record(orjson.dumps(doc))
    assert (back.url, back.props, back.bot) == ("", {}, False)
    with pytest.raises(SchemaError):
        decode_record(orjson.dumps({**doc, "v": 3}))


def test_a_batch_record_carries_every_event_of_a_key_and_reads_back_whole() -> None:
    name, url = "ajout_🛒", "https://exemple.fr/café/🎉"
    records = [
        make_record(
            schema.parse_event(ev(n=name, u=url, p={"n": i, "ok": True, "s": "✓"})),
            site="shop",
            visitor="v",
            ts=i,
            received=i + 1,
            bot=i == 2,
        )
        for i in range(3)
    ]
    raw = encode_batch(records)
    assert raw.count(name.encode()) == 3 and url.encode() in raw  # UTF-8 as it is
    assert decode_records(raw) == records
    # Version 1 records (old data, the spool's lines) read the same way, as a list of one.
    assert decode_records(encode_record(records[0])) == records[:1]


@pytest.mark.parametrize(
    "doc",
    [
        {"v": 2, "site": "s", "vid": "v", "e": []},
        {"v": 2, "site": "s", "e": [["i", "click", "", 1, 1, 1, "u", "", "", {}, False]]},
        {"v": 2, "site": "s", "vid": "v", "e": [["i", "click", "", 1, 1, 1, "u", "", "", {}]]},
        {"v": 2, "site": "s", "vid": "v", "e": [["i", "nope", "", 1, 1, 1, "u", "", "", {}, 0]]},
        {"v": 2, "site": "s", "vid": "v", "e": [["i", "click", "", "1", 1, 1, "u", "", "", {}, 0]]},
        {"v": 2, "site": "s", "vid": "v", "e": [{"i": "x"}]},
        {"v": 9, "site": "s"},
        ["not", "an", "object"],
    ],
)
def test_a_damaged_batch_is_refused_whole(doc: object) -> None:
    with pytest.raises(SchemaError):
        decode_records(orjson.dumps(doc))


def test_the_record_format_has_one_owner() -> None:
    # collector/records.py owns the Kafka records; the beacon schema does not re-export them.
    for name in ("Record", "decode_records", "encode_batch", "make_record", "record_key"):
        assert hasattr(records, name)
        assert not hasattr(schema, name)
