"""`python -m bench`: every benchmark, side by side with its bare reference, in one run.

Writes bench/results.json (every figure: name, value, unit, load average) and prints a table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench import REPO, consume, freshness, ingest, profile, query, tag
from bench.infra import infra
from bench.results import Results, load_average

ALL = ("ingest", "consumer", "freshness", "query", "tag", "profile")


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
    parser.add_argument(
        "--workers",
        action="append",
        type=int,
        help="collector worker processes for ingest under uvicorn (default: 1 and 2)",
    )
    parser.add_argument("--events", type=int, default=200_000, help="records for the consumer")
    parser.add_argument(
        "--capacity", type=float, default=4000, help="events/s when ingest/consumer did not run"
    )
    parser.add_argument(
        "--memory-minutes", type=float, default=1.0, help="freshness + memory run (30: long run)"
    )
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
            workers = tuple(args.workers or (1, 2))
            ingest.run(run, results, seconds=args.seconds, servers=servers, workers=workers)
        if "freshness" in chosen:
            print("freshness and memory", flush=True)
            capacity = min(
                results.get("ingest.uvicorn.10ev.collector.events") or args.capacity,
                results.get("consumer.worker.events") or args.capacity,
            )
            seconds = args.memory_minutes * 60
            if args.memory_minutes < 30:
                results.notes.append(
                    f"memory: short run of {seconds:.0f} s (--memory-minutes 30 for the long one)"
                )
            freshness.run(run, results, capacity_eps=capacity, seconds=seconds)
        if "query" in chosen:
            print("query API", flush=True)
            query.run(run, results, seconds=args.seconds)
        if "tag" in chosen:
            print("tag", flush=True)
            tag.run(results)
        if "profile" in chosen:
            print("profile (py-spy)", flush=True)
            out = Path(args.out).with_name("profile.txt")
            work = run.root / "profiles"
            work.mkdir()
            text = profile.collector(run, work / "collector.txt", args.seconds).render(
                "collector, 10-event beacons under wrk"
            )
            text += "\n" + profile.worker(run, work / "worker.txt", args.events // 2).render(
                f"worker, draining {args.events // 2} records"
            )
            out.write_text(text)
            results.notes.append(f"profiles written to {out}")
    results.notes.append(f"total {time.monotonic() - started:.0f} s")
    results.write(Path(args.out))
    print()
    print(results.table())
    for note in results.notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
