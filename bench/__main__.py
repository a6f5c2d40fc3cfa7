"""`python -m bench`: every benchmark, side by side with its bare reference, in one run.

Writes bench/results.json (every figure: name, value, unit, load average) and prints a table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench import REPO, consume, ingest
from bench.infra import infra
from bench.results import Results, load_average

ALL = ("ingest", "consumer")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", action="append", choices=ALL, help="run only these (repeatable)")
    parser.add_argument("--seconds", type=float, default=8, help="duration of each wrk run (s)")
    parser.add_argument(
        "--server",
        action="append",
        choices=("uvicorn", "granian"),
        help="HTTP servers to compare for ingest (default: both)",
    )
    parser.add_argument("--events", type=int, default=200_000, help="records for the consumer")
    parser.add_argument("--out", default=str(REPO / "bench" / "results.json"))
    args = parser.parse_args(argv)
    chosen = tuple(args.only or ALL)
    results = Results()
    results.notes.append(f"load average at start: {load_average()}")
    started = time.monotonic()
    with infra() as run:
        if "consumer" in chosen:
            print("consumer", flush=True)
            consume.run(run, results, events=args.events)
        if "ingest" in chosen:
            print("ingest", flush=True)
            servers = tuple(args.server or ("uvicorn", "granian"))
            ingest.run(run, results, seconds=args.seconds, servers=servers)
    results.notes.append(f"total {time.monotonic() - started:.0f} s")
    results.write(Path(args.out))
    print()
    print(results.table())
    for note in results.notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
