"""Benchmarks and failure drills: `python -m bench` and `python -m bench.drills`.

Every benchmark runs a bare reference and the real component side by side in one run on the same
machine and reports the ratio with the absolute figures, because the machine is shared and
absolute numbers alone would say more about the neighbours than about microcv.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# deploy/local is not a package (it runs before the virtualenv exists); its modules are imported
# by folder, as the test fixtures do.
if str(REPO / "deploy" / "local") not in sys.path:
    sys.path.insert(0, str(REPO / "deploy" / "local"))
