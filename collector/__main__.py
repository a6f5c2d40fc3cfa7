"""`python -m collector`: run the collector with uvicorn, in one process or several.

With MICROCV_COLLECTOR_WORKERS = N > 1 this process binds the port once and supervises N worker
processes that share it (the kernel spreads connections over them); a worker that dies is
replaced. Each worker builds its own app from the environment: its own Kafka producer, its own
spool slot (collector/spool.py) and rate-limit buckets, as N collectors behind a load balancer
would have; /metrics sums them all (collector/siblings.py).
"""

from __future__ import annotations

import logging

import uvicorn
from starlette.applications import Starlette
from uvicorn.supervisors.multiprocess import Multiprocess

from collector.app import create_app
from collector.httpguard import GuardedHttpToolsProtocol, guarded_protocol
from collector.settings import Settings
from collector.spool import merge_orphans

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# What both ways of running give uvicorn.
SERVER = {
    "loop": "uvloop",
    "access_log": False,
    "log_level": "warning",
    # The collector reads X-Forwarded-For itself, from trusted proxies only (clientip.py);
    # uvicorn's own rewrite would believe any local peer.
    "proxy_headers": False,
}


class Workers(Multiprocess):
    """uvicorn's supervisor without its resizing signals: SIGHUP (replace every worker, each new
    one started before the old one stops), SIGTTIN and SIGTTOU change which spool slots are
    held while the collector runs, which could leave a slot with events and no owner until the
    next start. Restart the collector instead: its start folds such slots back in."""

    def handle_term(self) -> None:
        self._stop_listening()
        super().handle_term()

    def handle_int(self) -> None:
        self._stop_listening()
        super().handle_int()

    def _stop_listening(self) -> None:
        # The workers close their listening sockets as their shutdown begins, but this process
        # holds the port too, and while it does the kernel completes new connections that no
        # worker will ever read: they hung until the last worker had drained (~22 s with Kafka
        # away). Closed here, a new connection is refused at once and a balancer moves on.
        for sock in self.sockets:
            sock.close()

    def handle_hup(self) -> None:
        logging.getLogger(__name__).warning("SIGHUP ignored: restart the collector instead")

    def handle_ttin(self) -> None:
        logging.getLogger(__name__).warning("SIGTTIN ignored: set MICROCV_COLLECTOR_WORKERS")

    def handle_ttou(self) -> None:
        logging.getLogger(__name__).warning("SIGTTOU ignored: set MICROCV_COLLECTOR_WORKERS")


def worker_app() -> Starlette:
    """The app of one worker process (uvicorn calls this factory in each of them)."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    settings = Settings.from_env()
    # uvicorn hands the workers the protocol class by name; the bound is this run's.
    GuardedHttpToolsProtocol.head_timeout_s = settings.body_timeout_s
    return create_app(settings)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    settings = Settings.from_env()
    # Everything that can be wrong with the configuration fails here, before the port opens.
    app = create_app(settings)
    # A run with fewer workers than the last one takes over what their slots still hold.
    merge_orphans(settings.spool_dir, settings.port, settings.workers)
    # SIGTERM: uvicorn stops accepting, lets in-flight requests finish (each is answered only
    # once its events are in Kafka or the spool) within the grace, then runs the lifespan's
    # shutdown, which flushes the producer within the same bound. With workers, the supervisor
    # passes SIGTERM on to each and waits for them.
    grace = int(settings.grace_s)
    if settings.workers == 1:
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            # httptools with bounds on each request's head (collector/httpguard.py).
            http=guarded_protocol(settings.body_timeout_s),
            timeout_graceful_shutdown=grace,
            **SERVER,  # type: ignore[arg-type]
        )
        return
    config = uvicorn.Config(
        "collector.__main__:worker_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        http="collector.httpguard:GuardedHttpToolsProtocol",
        timeout_graceful_shutdown=grace,
        **SERVER,  # type: ignore[arg-type]
    )
    Workers(config, sockets=[config.bind_socket()]).run()


if __name__ == "__main__":
    main()
