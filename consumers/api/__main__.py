"""`python -m consumers.api`: serve the query API."""

from __future__ import annotations

from consumers.api.main import main

main()
