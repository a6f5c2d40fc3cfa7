"""`python -m bench.drills [--long]`: every drill, one line each: sent, accepted, counted,
lost, doubled.

Short form: 10 s outages (what CI runs, in tests/drills); --long: 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import asdict
from pathlib import Path

from bench import REPO
from bench.drills import scenarios
from bench.infra import infra
from bench.results import load_average


async def _all(names: list[str], outage_s: float) -> list[scenarios.Outcome]:
    outcomes = []
    with infra() as run:
        for name in names:
            outcome = await scenarios.run(run, name, outage_s=outage_s)
            print(outcome.tally.line(name), flush=True)
            outcomes.append(outcome)
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.drills", description=__doc__)
    parser.add_argument("--long", action="store_true", help="60 s outages instead of 10 s")
    parser.add_argument("--only", action="append", choices=list(scenarios.DRILLS))
    parser.add_argument("--out", default=str(REPO / "bench" / "drills.json"))
    args = parser.parse_args(argv)
    outage_s = 60.0 if args.long else 10.0
    outcomes = asyncio.run(_all(args.only or list(scenarios.DRILLS), outage_s))
    report = {
        "outage_s": outage_s,
        "load_average_at_end": load_average(),
        "drills": [
            {
                "name": o.name,
                **asdict(o.tally),
                "retried_answers": o.ledger.statuses,
                "connection_errors": o.ledger.conn_errors,
                "timeline": o.notes,
                "seconds": round(o.seconds, 1),
            }
            for o in outcomes
        ],
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    failed = [o.name for o in outcomes if o.tally.lost or o.tally.doubled]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
