"""Paired comparisons across seeds, Student t intervals, and the verdict rule.

Every claim test in the studies compares two losses trained under the *same* seed (same
patches, same initial weights, same outlier positions and hole masks): the unit of evidence is
the per-seed difference ``d_s = metric(A, seed s) - metric(B, seed s)``. With ``n`` seeds we
report

.. math::
    \\bar d \\pm t_{0.975,\\,n-1} \\, \\frac{s_d}{\\sqrt{n}}

and read a verdict off the interval:

* ``"held"``: the interval excludes 0 on the side the claim predicts;
* ``"contradicted"``: the interval excludes 0 on the opposite side;
* ``"inconclusive"``: the interval contains 0, or fewer than two seeds are available.

Everything here is a pure function of plain numbers (no torch), so the rule can be tested on
synthetic data. The Student t quantile is computed exactly (bisection on the CDF written with
the regularized incomplete beta function, evaluated by its continued fraction), so no SciPy is
needed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from reconloss._checks import ParameterError

__all__ = [
    "Direction",
    "Verdict",
    "VERDICTS",
    "PairedTest",
    "regularized_incomplete_beta",
    "t_cdf",
    "t_quantile",
    "paired_differences",
    "mean_sd",
    "t_interval",
    "verdict_from_interval",
    "paired_test",
]

Direction = Literal["greater", "less"]
"""The claimed sign of ``A - B``: ``"greater"`` means the claim predicts ``A > B``."""

Verdict = Literal["held", "contradicted", "inconclusive"]
VERDICTS: tuple[str, ...] = ("held", "contradicted", "inconclusive")


@dataclass(frozen=True)
class PairedTest:
    """Result of one paired comparison ``A - B`` across seeds.

    Attributes:
        effect: Mean of the per-seed differences ``A - B`` (NaN with no pairs).
        sd: Sample standard deviation of the differences (NaN with fewer than two).
        ci_low: Lower end of the two-sided interval (NaN with fewer than two pairs).
        ci_high: Upper end of the interval.
        n: Number of seeds with a finite value for both A and B.
        direction: The claimed sign of ``A - B``.
        verdict: ``"held"``, ``"contradicted"`` or ``"inconclusive"``.
        mean_a: Mean of A over the paired seeds.
        mean_b: Mean of B over the paired seeds.
        confidence: Two-sided confidence level of the interval.
    """

    effect: float
    sd: float
    ci_low: float
    ci_high: float
    n: int
    direction: Direction
    verdict: Verdict
    mean_a: float
    mean_b: float
    confidence: float = 0.95

    def as_dict(self) -> dict[str, Any]:
        """Plain-dict view (JSON friendly)."""
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Student t distribution
# --------------------------------------------------------------------------------------------


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz's method)."""
    tiny = 1e-300
    qab = a + b
    qap = a + 1.0
    qam = a - 1.0
    c = 1.0
    d = 1.0 - qab * x / qap
    if abs(d) < tiny:
        d = tiny
    d = 1.0 / d
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = tiny if abs(d) < tiny else d
        c = 1.0 + aa / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = tiny if abs(d) < tiny else d
        c = 1.0 + aa / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def regularized_incomplete_beta(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function :math:`I_x(a, b)` for ``a, b > 0``, ``x`` in [0, 1].

    Example:
        >>> round(regularized_incomplete_beta(1.0, 1.0, 0.3), 12)
        0.3
    """
    if a <= 0 or b <= 0:
        raise ParameterError(f"a and b must be > 0, got a={a!r}, b={b!r}")
    if not 0.0 <= x <= 1.0:
        raise ParameterError(f"x must be in [0, 1], got {x!r}")
    if x == 0.0 or x == 1.0:
        return x
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_continued_fraction(a, b, x) / a
    return 1.0 - front * _beta_continued_fraction(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """Cumulative distribution function of Student's t with ``df`` degrees of freedom.

    .. math:: F(t) = 1 - \\tfrac12 I_{df/(df+t^2)}(df/2, 1/2) \\quad (t \\ge 0)

    Example:
        >>> t_cdf(0.0, 5)
        0.5
    """
    if not df > 0:
        raise ParameterError(f"df must be > 0, got {df!r}")
    if math.isnan(t):
        return math.nan
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    tail = 0.5 * regularized_incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """Quantile (inverse CDF) of Student's t, by bisection on :func:`t_cdf` to ~1e-12.

    Args:
        p: Probability in (0, 1).
        df: Degrees of freedom (> 0).

    Example:
        >>> round(t_quantile(0.975, 2), 3)
        4.303
        >>> round(t_quantile(0.975, 10), 3)
        2.228
    """
    if not 0.0 < p < 1.0:
        raise ParameterError(f"p must be in (0, 1), got {p!r}")
    if not df > 0:
        raise ParameterError(f"df must be > 0, got {df!r}")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
        if hi > 1e12:
            return math.inf
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


# --------------------------------------------------------------------------------------------
# Paired differences and intervals
# --------------------------------------------------------------------------------------------


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))


def paired_differences(a: Mapping[Any, float | None], b: Mapping[Any, float | None]) -> list[tuple[Any, float, float]]:
    """Pair two ``{seed: value}`` maps on their common seeds.

    Seeds where either value is missing or not finite are dropped (a diverged run is not
    evidence about a difference). Returns ``[(seed, a_value, b_value), ...]`` sorted by seed.
    """
    out: list[tuple[Any, float, float]] = []
    for key in sorted(set(a) & set(b), key=lambda k: (str(type(k)), k)):
        va, vb = a[key], b[key]
        if _finite(va) and _finite(vb):
            out.append((key, float(va), float(vb)))  # type: ignore[arg-type]
    return out


def mean_sd(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (``ddof=1``); NaN where undefined."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    m = math.fsum(values) / n
    if n < 2:
        return m, math.nan
    var = math.fsum((v - m) ** 2 for v in values) / (n - 1)
    return m, math.sqrt(max(var, 0.0))


def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float, float]:
    """Mean, sd and two-sided Student t interval of ``values``.

    Returns ``(mean, sd, low, high)``; ``low``/``high`` are NaN with fewer than two values.
    """
    if not 0.0 < confidence < 1.0:
        raise ParameterError(f"confidence must be in (0, 1), got {confidence!r}")
    m, sd = mean_sd(values)
    n = len(values)
    if n < 2:
        return m, sd, math.nan, math.nan
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * sd / math.sqrt(n)
    return m, sd, m - half, m + half


def verdict_from_interval(ci_low: float, ci_high: float, direction: Direction, n: int) -> Verdict:
    """The verdict rule.

    ``"held"`` if the interval lies strictly on the claimed side of 0, ``"contradicted"`` if it
    lies strictly on the other side, else ``"inconclusive"``; always ``"inconclusive"`` with
    ``n < 2`` or a non-finite interval.

    Example:
        >>> verdict_from_interval(0.1, 0.3, "greater", 3)
        'held'
        >>> verdict_from_interval(0.1, 0.3, "less", 3)
        'contradicted'
        >>> verdict_from_interval(-0.1, 0.3, "greater", 3)
        'inconclusive'
    """
    if direction not in ("greater", "less"):
        raise ParameterError(f"direction must be 'greater' or 'less', got {direction!r}")
    if n < 2 or not (math.isfinite(ci_low) and math.isfinite(ci_high)):
        return "inconclusive"
    if ci_low > 0:
        return "held" if direction == "greater" else "contradicted"
    if ci_high < 0:
        return "held" if direction == "less" else "contradicted"
    return "inconclusive"


def paired_test(
    a: Mapping[Any, float | None] | Iterable[tuple[Any, float | None]],
    b: Mapping[Any, float | None] | Iterable[tuple[Any, float | None]],
    direction: Direction,
    confidence: float = 0.95,
) -> PairedTest:
    """Paired comparison ``A - B`` across seeds with a verdict.

    Args:
        a: ``{seed: value}`` of the loss the claim talks about first.
        b: ``{seed: value}`` of the loss it is compared with.
        direction: ``"greater"`` if the claim predicts ``A > B``, ``"less"`` for ``A < B``.
        confidence: Two-sided level of the interval.

    Example:
        >>> r = paired_test({0: 1.0, 1: 1.2, 2: 1.1}, {0: 0.5, 1: 0.6, 2: 0.55}, "greater")
        >>> r.verdict, r.n
        ('held', 3)
    """
    if direction not in ("greater", "less"):
        raise ParameterError(f"direction must be 'greater' or 'less', got {direction!r}")
    amap = dict(a) if not isinstance(a, Mapping) else a
    bmap = dict(b) if not isinstance(b, Mapping) else b
    pairs = paired_differences(amap, bmap)
    diffs = [va - vb for _, va, vb in pairs]
    effect, sd, low, high = t_interval(diffs, confidence)
    n = len(diffs)
    mean_a = mean_sd([va for _, va, _ in pairs])[0]
    mean_b = mean_sd([vb for _, _, vb in pairs])[0]
    return PairedTest(
        effect=effect,
        sd=sd,
        ci_low=low,
        ci_high=high,
        n=n,
        direction=direction,
        verdict=verdict_from_interval(low, high, direction, n),
        mean_a=mean_a,
        mean_b=mean_b,
        confidence=confidence,
    )
