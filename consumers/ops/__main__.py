"""`python -m consumers.ops`: the `microcv` CLI without the console script."""

from __future__ import annotations

import sys

from consumers.ops.cli import main

sys.exit(main())
