"""The experiment statistics against values computed independently."""

from __future__ import annotations

import math

import pytest

from consumers.api.stats import MIN_EXPOSED, compare, normal_cdf, normal_ppf


def test_normal_cdf_and_its_inverse_at_known_points() -> None:
    assert normal_cdf(0) == 0.5
    assert normal_cdf(1.959963984540054) == pytest.approx(0.975, abs=1e-12)
    assert normal_cdf(-1) == pytest.approx(0.15865525393145707, abs=1e-12)
    assert normal_ppf(0.975) == pytest.approx(1.959963984540054, abs=1e-9)
    assert normal_ppf(0.995) == pytest.approx(2.5758293035489004, abs=1e-9)
    assert normal_ppf(0.5) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError):
        normal_ppf(1.0)


def pearson_chi_square(x1: int, n1: int, x2: int, n2: int) -> float:
    """Chi-square of the 2x2 table without continuity correction (what z squared must equal)."""
    table = [[x1, n1 - x1], [x2, n2 - x2]]
    total = n1 + n2
    cols = [x1 + x2, total - x1 - x2]
    rows = [n1, n2]
    return sum(
        (table[i][j] - rows[i] * cols[j] / total) ** 2 / (rows[i] * cols[j] / total)
        for i in range(2)
        for j in range(2)
    )


def test_z_test_matches_the_chi_square_test_and_published_values() -> None:
    # 200/1000 vs 250/1000: R's prop.test(c(250, 200), c(1000, 1000), correct = FALSE)
    # reports X-squared = 7.1685, p-value = 0.007419.
    c = compare(200, 1000, 250, 1000)
    assert c.z is not None and c.p_value is not None
    assert c.z**2 == pytest.approx(pearson_chi_square(200, 1000, 250, 1000), rel=1e-12)
    assert c.z**2 == pytest.approx(7.1685, abs=1e-4)
    assert c.p_value == pytest.approx(0.007419, abs=1e-6)
    assert c.difference == pytest.approx(0.05)
    assert c.uplift == pytest.approx(0.25)
    # Wald interval: 0.05 +- 1.96 * sqrt(.2*.8/1000 + .25*.75/1000)
    half = 1.959963984540054 * math.sqrt(0.2 * 0.8 / 1000 + 0.25 * 0.75 / 1000)
    assert c.ci_low == pytest.approx(0.05 - half) and c.ci_high == pytest.approx(0.05 + half)
    assert c.significant


def test_no_difference_and_degenerate_arms() -> None:
    same = compare(50, 500, 50, 500)
    assert same.z == 0 and same.p_value == pytest.approx(1.0) and not same.significant
    nobody = compare(0, 0, 3, 10)
    assert nobody.rate_control is None and nobody.p_value is None and not nobody.significant
    all_or_none = compare(0, 100, 0, 100)
    assert all_or_none.p_value == 1.0 and all_or_none.uplift is None
    # A large effect on too few visitors is never called significant.
    tiny = compare(0, MIN_EXPOSED - 1, MIN_EXPOSED - 1, MIN_EXPOSED - 1)
    assert tiny.p_value is not None and tiny.p_value < 0.001 and not tiny.significant
    with pytest.raises(ValueError):
        compare(5, 4, 1, 10)
