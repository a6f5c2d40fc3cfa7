"""microcv: operate a microcv deployment.

  microcv topics create|check      the events topic and the dead-letter topic
  microcv sites validate FILE      check a sites config with every package's parser
  microcv replay FILE              post a clickstream (CSV or JSON lines) to the collector
  microcv tag --sites F --site ID  print a site's tag (same options as python -m snippet)
  microcv probe URL...             exit 0 when a URL answers 2xx (container health checks)

Kafka names and addresses come from the same environment variables as the services
(docs/configuration.md).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from consumers.ops import sitecheck, topics
from consumers.ops.catalog import build_catalog
from consumers.ops.clickstream import RowError, detect_format
from consumers.ops.replay import ReplayOptions, replay
from consumers.ops.settings import OpsSettings
from consumers.settings import Settings

EXIT_PROBLEM = 1
EXIT_USAGE = 2


def _topics(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    ops = OpsSettings.from_env()
    bootstrap = args.bootstrap or settings.kafka_bootstrap
    replication = args.replication or ops.replication
    partitions = args.partitions or ops.partitions
    specs = [
        topics.TopicSpec(args.topic or settings.topic, partitions, replication),
        topics.TopicSpec(settings.dead_letter_topic, args.dead_letter_partitions, replication),
    ]
    try:
        if args.action == "create":
            for line in asyncio.run(topics.create(bootstrap, specs, args.timeout)):
                print(line)
            return 0
        lines, problems = asyncio.run(topics.check(bootstrap, specs, args.timeout))
    except topics.TopicError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
    for line in lines:
        print(line)
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return EXIT_PROBLEM if problems else 0


def _sites(args: argparse.Namespace) -> int:
    catalog = build_catalog()
    sites, errors = sitecheck.validate_file(args.file, catalog)
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    if errors or sites is None:
        print(f"{args.file}: {len(errors)} error(s)", file=sys.stderr)
        return EXIT_PROBLEM
    checkers = ["snippet.sites", "snippet.generator", *catalog.checkers]
    print(f"{args.file}: ok, {len(sites)} site(s): {', '.join(s.id for s in sites)}")
    print(f"checked by {', '.join(checkers)}")
    return 0


def _replay(args: argparse.Namespace) -> int:
    try:
        fmt = args.format or detect_format(args.file)
    except RowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not args.file.is_file():
        print(f"error: {args.file}: no such file", file=sys.stderr)
        return EXIT_USAGE
    options = ReplayOptions(
        collector_url=args.collector or OpsSettings.from_env().collector_url,
        batch_size=args.batch_size,
        concurrency=args.concurrency,
        keep_time=args.keep_time,
        give_up_after_s=args.give_up_after,
    )
    tally = asyncio.run(
        replay(args.file, fmt, args.site, options, sys.stderr, show_progress=not args.quiet)
    )
    for line in tally.summary():
        print(line)
    return 0 if tally.ok else EXIT_PROBLEM


def _probe(args: argparse.Namespace) -> int:
    # One image runs the collector, the API or a worker: the container is healthy when the one
    # endpoint its process serves answers, so any 2xx among the URLs will do.
    for url in args.urls:
        try:
            with urllib.request.urlopen(url, timeout=args.timeout) as response:
                status: int = response.status
        except (urllib.error.URLError, OSError, ValueError) as exc:
            print(f"{url}: {exc}", file=sys.stderr)
            continue
        if 200 <= status < 300:
            return 0
        print(f"{url}: HTTP {status}", file=sys.stderr)
    return EXIT_PROBLEM


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="microcv", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = commands.add_parser("topics", help="create or check the Kafka topics")
    t.add_argument("action", choices=["create", "check"])
    t.add_argument("--bootstrap", help="default: $MICROCV_KAFKA_BOOTSTRAP")
    t.add_argument("--topic", help="events topic (default: $MICROCV_TOPIC)")
    t.add_argument("--partitions", type=_positive, help="default: $MICROCV_PARTITIONS or 6")
    t.add_argument("--dead-letter-partitions", type=_positive, default=1)
    t.add_argument("--replication", type=_positive, help="default: $MICROCV_REPLICATION_FACTOR")
    t.add_argument("--timeout", type=float, default=topics.SETTLE_S, help="seconds")
    t.set_defaults(run=_topics)

    s = commands.add_parser("sites", help="check a sites config")
    s.add_argument("action", choices=["validate"])
    s.add_argument("file", type=Path)
    s.set_defaults(run=_sites)

    r = commands.add_parser("replay", help="post a clickstream file to the collector")
    r.add_argument("file", type=Path, help=".csv, .jsonl or .ndjson")
    r.add_argument("--collector", help="base URL (default: $MICROCV_COLLECTOR_URL)")
    r.add_argument("--format", choices=["csv", "jsonl"], help="default: from the extension")
    r.add_argument("--site", help="site of the rows that have no site column")
    r.add_argument("--batch-size", type=_positive, default=50, help="events per request")
    r.add_argument("--concurrency", type=_positive, default=4, help="requests in flight")
    r.add_argument(
        "--keep-time",
        action="store_true",
        help="keep the file's event times (the collector takes up to 24 h old) instead of now",
    )
    r.add_argument(
        "--give-up-after", type=float, default=300.0, help="seconds of retries per batch"
    )
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(run=_replay)

    # Listed for --help only: main() hands `tag ...` to the snippet CLI untouched.
    commands.add_parser("tag", help="print a site's tag (microcv tag --help)", add_help=False)

    p = commands.add_parser("probe", help="exit 0 when one of the URLs answers 2xx")
    p.add_argument("urls", nargs="+", metavar="URL")
    p.add_argument("--timeout", type=float, default=3.0)
    p.set_defaults(run=_probe)
    return root


def _tag(argv: list[str]) -> int:
    # The snippet package owns rendering and its options; this only forwards to its CLI.
    from snippet.__main__ import main as snippet_main

    return snippet_main(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["tag"]:
        return _tag(arguments[1:])
    args = parser().parse_args(arguments)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
