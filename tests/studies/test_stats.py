"""Verdict logic and Student t quantiles of reconloss.studies.stats, on synthetic numbers."""

from __future__ import annotations

import math

import pytest

from reconloss._checks import ParameterError
from reconloss.studies.stats import (
    VERDICTS,
    mean_sd,
    paired_differences,
    paired_test,
    regularized_incomplete_beta,
    t_cdf,
    t_interval,
    t_quantile,
    verdict_from_interval,
)


@pytest.mark.parametrize(
    ("df", "expected"),
    [(1, 12.706), (2, 4.303), (3, 3.182), (4, 2.776), (5, 2.571), (10, 2.228), (20, 2.086), (30, 2.042), (120, 1.980)],
)
def test_t_quantile_matches_table(df: int, expected: float) -> None:
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=6e-4)


def test_t_quantile_matches_scipy_closely() -> None:
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 3, 7, 15, 60, 500):
        for p in (0.6, 0.9, 0.975, 0.995, 0.025):
            assert t_quantile(p, df) == pytest.approx(float(stats.t.ppf(p, df)), rel=1e-8, abs=1e-9)


def test_t_quantile_symmetry_and_large_df_normal() -> None:
    assert t_quantile(0.5, 4) == 0.0
    assert t_quantile(0.025, 6) == pytest.approx(-t_quantile(0.975, 6))
    assert t_quantile(0.975, 100000) == pytest.approx(1.95996, abs=1e-4)


def test_t_cdf_and_beta_closed_forms() -> None:
    # df = 1 is the Cauchy distribution: F(t) = 1/2 + atan(t)/pi
    for t in (-3.0, -0.5, 0.0, 1.0, 4.0):
        assert t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)
    assert regularized_incomplete_beta(2.0, 1.0, 0.5) == pytest.approx(0.25)  # I_x(a, 1) = x^a


def test_bad_arguments_raise_typed_errors() -> None:
    with pytest.raises(ParameterError, match="p must be in"):
        t_quantile(1.0, 3)
    with pytest.raises(ParameterError, match="df must be"):
        t_quantile(0.9, 0)
    with pytest.raises(ParameterError, match="direction"):
        verdict_from_interval(0.1, 0.2, "up", 3)  # type: ignore[arg-type]


def test_verdict_rule_all_three_and_n1() -> None:
    assert verdict_from_interval(0.1, 0.5, "greater", 3) == "held"
    assert verdict_from_interval(-0.5, -0.1, "less", 3) == "held"
    assert verdict_from_interval(0.1, 0.5, "less", 3) == "contradicted"
    assert verdict_from_interval(-0.5, -0.1, "greater", 3) == "contradicted"
    assert verdict_from_interval(-0.1, 0.5, "greater", 3) == "inconclusive"
    assert verdict_from_interval(0.1, 0.5, "greater", 1) == "inconclusive"
    assert verdict_from_interval(math.nan, math.nan, "greater", 5) == "inconclusive"
    assert set(VERDICTS) == {"held", "contradicted", "inconclusive"}


def test_paired_test_held_contradicted_inconclusive() -> None:
    a = {0: 1.00, 1: 1.10, 2: 0.95, 3: 1.05}
    b = {0: 0.80, 1: 0.92, 2: 0.70, 3: 0.86}
    held = paired_test(a, b, "greater")
    assert held.verdict == "held" and held.n == 4
    diffs = [a[s] - b[s] for s in a]
    m, sd = mean_sd(diffs)
    assert held.effect == pytest.approx(m)
    assert held.sd == pytest.approx(sd)
    half = t_quantile(0.975, 3) * sd / 2.0
    assert (held.ci_low, held.ci_high) == pytest.approx((m - half, m + half))
    assert paired_test(a, b, "less").verdict == "contradicted"
    noisy = paired_test({0: 1.0, 1: 0.0, 2: 0.5}, {0: 0.0, 1: 1.0, 2: 0.45}, "greater")
    assert noisy.verdict == "inconclusive"


def test_paired_test_pairs_by_seed_and_drops_non_finite() -> None:
    a = {0: 1.0, 1: math.nan, 2: 3.0, 5: 9.0}
    b = {0: 0.5, 1: 0.5, 2: 2.0, 3: 1.0}
    assert [s for s, _, _ in paired_differences(a, b)] == [0, 2]
    one = paired_test({0: 2.0}, {0: 1.0}, "greater")
    assert one.n == 1 and one.verdict == "inconclusive" and one.effect == 1.0
    assert math.isnan(one.ci_low) and math.isnan(one.sd)
    none = paired_test({}, {}, "greater")
    assert none.n == 0 and none.verdict == "inconclusive"


def test_t_interval_zero_spread_is_a_point() -> None:
    m, sd, lo, hi = t_interval([0.2, 0.2, 0.2])
    assert (m, sd, lo, hi) == pytest.approx((0.2, 0.0, 0.2, 0.2))
    assert paired_test({0: 1.2, 1: 1.2}, {0: 1.0, 1: 1.0}, "greater").verdict == "held"
