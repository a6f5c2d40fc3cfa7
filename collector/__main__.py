"""`python -m collector`: run the collector with uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from collector.app import create_app
from collector.httpguard import guarded_protocol
from collector.settings import Settings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = Settings.from_env()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        # httptools with bounds on each request's head (collector/httpguard.py).
        http=guarded_protocol(settings.body_timeout_s),
        access_log=False,
        log_level="warning",
        # The collector reads X-Forwarded-For itself, from trusted proxies only (clientip.py);
        # uvicorn's own rewrite would believe any local peer.
        proxy_headers=False,
        # SIGTERM: uvicorn stops accepting, lets in-flight requests finish (each is answered only
        # once its events are in Kafka or the spool) within the grace, then runs the lifespan's
        # shutdown, which flushes the producer within the same bound.
        timeout_graceful_shutdown=int(settings.grace_s),
    )


if __name__ == "__main__":
    main()
