"""The entry point: settings from the environment, then uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from consumers.api.app import create_app
from consumers.settings import Settings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = Settings.from_env()
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        # Live streams never end by themselves: on SIGTERM give them this long, then cancel.
        timeout_graceful_shutdown=3,
    )
