"""App factories for servers started by import path (granian): the real apps, built from env."""

from __future__ import annotations

from starlette.applications import Starlette

from collector.app import create_app
from collector.settings import Settings


def collector() -> Starlette:
    return create_app(Settings.from_env())
