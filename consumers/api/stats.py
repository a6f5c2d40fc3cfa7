"""Statistics for experiments: a two-proportion z-test and a confidence interval, with math only.

Control converts x1 of n1 exposed visitors, a variant x2 of n2. The test uses the pooled
proportion under the null hypothesis (no difference), two-sided; the interval for the difference
p2 - p1 is the unpooled Wald interval. Both are the textbook large-sample forms: the answer says
`significant` only when each arm has at least MIN_EXPOSED visitors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

MIN_EXPOSED: Final = 30


def normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def normal_ppf(p: float) -> float:
    """The z with normal_cdf(z) == p, by bisection: plenty fast for one call per answer."""
    if not 0.0 < p < 1.0:
        raise ValueError("p must be in (0, 1)")
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if normal_cdf(mid) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-15:
            break
    return (lo + hi) / 2


@dataclass(frozen=True, slots=True)
class Comparison:
    rate_control: float | None
    rate_variant: float | None
    difference: float | None  # p2 - p1
    uplift: float | None  # (p2 - p1) / p1
    z: float | None
    p_value: float | None
    ci_low: float | None  # interval for the difference
    ci_high: float | None
    significant: bool


def compare(x1: int, n1: int, x2: int, n2: int, confidence: float = 0.95) -> Comparison:
    """Variant (x2 of n2) against control (x1 of n1); None where a figure is undefined."""
    if not (0 <= x1 <= n1 and 0 <= x2 <= n2):
        raise ValueError("converting visitors cannot exceed exposed visitors")
    p1 = x1 / n1 if n1 else None
    p2 = x2 / n2 if n2 else None
    if p1 is None or p2 is None:
        return Comparison(p1, p2, None, None, None, None, None, None, False)
    diff = p2 - p1
    uplift = diff / p1 if p1 > 0 else None
    pooled = (x1 + x2) / (n1 + n2)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se0 > 0:
        z: float | None = diff / se0
        p_value: float | None = math.erfc(abs(diff / se0) / math.sqrt(2.0))
    else:
        # Both arms all-converting or all-not: no evidence of any difference.
        z, p_value = 0.0, 1.0
    half = normal_ppf(0.5 + confidence / 2) * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    significant = p_value is not None and p_value < 1 - confidence and min(n1, n2) >= MIN_EXPOSED
    return Comparison(p1, p2, diff, uplift, z, p_value, diff - half, diff + half, significant)
