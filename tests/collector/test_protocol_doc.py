"""docs/protocol.schema.json says what collector/schema.py enforces."""

from __future__ import annotations

import json
from pathlib import Path

from collector import schema

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.schema.json"


def test_the_json_schema_carries_the_code_limits() -> None:
    doc = json.loads(DOC.read_text())
    event = doc["$defs"]["event"]["properties"]
    assert doc["properties"]["v"]["const"] == schema.VERSION
    assert doc["properties"]["e"]["maxItems"] == schema.MAX_EVENTS
    assert sorted(event["k"]["enum"]) == sorted(schema.KINDS)
    assert event["i"]["maxLength"] == schema.MAX_ID_LEN
    assert event["n"]["maxLength"] == schema.MAX_NAME_LEN
    assert event["u"]["maxLength"] == event["r"]["maxLength"] == schema.MAX_URL_LEN
    assert event["p"]["maxProperties"] == schema.MAX_PROPS
    assert event["p"]["propertyNames"]["maxLength"] == schema.MAX_PROP_KEY_LEN
    assert str(schema.MAX_BODY_BYTES) in doc["description"]
    assert doc["properties"]["cid"]["pattern"] == f"^{schema.CLIENT_ID.pattern}$"
