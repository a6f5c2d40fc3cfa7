"""`python -m consumers`: run one counter worker until SIGTERM or SIGINT, or until idle.

`--check` validates the sites config (conversions, funnels, experiments, lead scores), pings
Redis and looks the topic up in Kafka, then exits: 0 when all is well, 1 when a service is not
reachable or the topic is missing, 2 when the configuration is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from redis.exceptions import RedisError

from consumers.config import parse_configs
from consumers.redisconn import connect
from consumers.settings import Settings
from consumers.worker import Worker
from snippet.sites import SitesConfigError, load_sites

GC_THRESHOLD = 100_000  # container allocations between two young collections (default 700)


async def _run(settings: Settings, *, burst: bool) -> None:
    worker = Worker(settings, load_sites(settings.sites_path))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.request_stop)
    await worker.start()
    # A batch allocates tens of thousands of short-lived lists and dicts (its decoded events),
    # which reference counting frees; at the default threshold the cycle collector would walk
    # them several times per batch. What start-up made is frozen out of its walks altogether.
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 20, 20)
    try:
        await worker.run(burst=burst)
    finally:
        await asyncio.wait_for(worker.stop(), timeout=settings.grace_s)


async def _check(settings: Settings) -> int:
    sites = load_sites(settings.sites_path)
    configs = parse_configs(sites)
    rules = sum(len(c.conversions) for c in configs.values())
    print(f"sites config: {len(sites)} sites, {rules} conversion rules")
    redis = connect(settings)
    try:
        await asyncio.wait_for(redis.ping(), settings.redis_timeout_s)
        print(f"redis: {settings.redis_url} answers")
    except (RedisError, OSError, TimeoutError) as exc:
        print(f"error: redis {settings.redis_url}: {exc!r}", file=sys.stderr)
        return 1
    finally:
        await redis.aclose()
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    try:
        await asyncio.wait_for(consumer.start(), 15)
        # The consumer's own metadata only covers subscribed topics: ask for all of them.
        cluster = await asyncio.wait_for(consumer._client.fetch_all_metadata(), 15)
        partitions = cluster.partitions_for_topic(settings.topic)
        if not partitions:
            print(f"error: kafka: topic {settings.topic} not found", file=sys.stderr)
            return 1
        print(f"kafka: topic {settings.topic} has {len(partitions)} partitions")
    except (KafkaError, OSError, TimeoutError) as exc:
        print(f"error: kafka {settings.kafka_bootstrap}: {exc!r}", file=sys.stderr)
        return 1
    finally:
        await consumer.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m consumers", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--burst", action="store_true", help="exit once the topic is drained")
    mode.add_argument("--check", action="store_true", help="check config and services, exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = Settings.from_env()
    except ValueError as exc:  # a malformed MICROCV_* variable
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.check:
            return asyncio.run(_check(settings))
        asyncio.run(_run(settings, burst=args.burst))
    except SitesConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
