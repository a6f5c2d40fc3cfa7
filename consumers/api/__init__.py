"""The query API: counters, series, funnels, experiments, breakdowns and leads over HTTP,
a live stream, CSV export, its OpenAPI document and the dashboard.

`python -m consumers.api` serves it with uvicorn.
"""

from __future__ import annotations

from consumers.api.app import create_app
from consumers.api.main import main

__all__ = ["create_app", "main"]
