"""`python -m consumers`: run one counter worker until SIGTERM or SIGINT, or until idle."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from consumers.settings import Settings
from consumers.worker import Worker
from snippet.sites import SitesConfigError, load_sites


async def _run(settings: Settings, *, burst: bool) -> None:
    worker = Worker(settings, load_sites(settings.sites_path))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.request_stop)
    await worker.start()
    try:
        await worker.run(burst=burst)
    finally:
        await asyncio.wait_for(worker.stop(), timeout=settings.grace_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m consumers", description=__doc__)
    parser.add_argument("--burst", action="store_true", help="exit once the topic is drained")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = Settings.from_env()
    try:
        asyncio.run(_run(settings, burst=args.burst))
    except SitesConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
