"""The failure drills in their short form (10 s outages) against the real stack.

Correctness, not timing: every event acknowledged with a 2xx is counted, and none twice. The
drills (bench/drills) start their own Kafka and Redis, since they stop and kill them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.drills import scenarios
from bench.infra import Infra, infra

pytestmark = pytest.mark.drill


@pytest.fixture(scope="module")
def drill_infra() -> Iterator[Infra]:
    with infra() as run:
        yield run


@pytest.mark.parametrize("name", scenarios.DRILLS)
async def test_drill(drill_infra: Infra, name: str) -> None:
    outcome = await scenarios.run(drill_infra, name, outage_s=10)
    tally = outcome.tally
    print(tally.line(name), outcome.notes)
    assert tally.sent > 0 and tally.accepted > 0, outcome.ledger.statuses
    assert tally.lost == 0, (tally, outcome.notes)
    assert tally.doubled == 0, (tally, outcome.notes)
