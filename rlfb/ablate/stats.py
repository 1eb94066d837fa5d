"""Small-sample statistics for ablation reports: Student-t confidence intervals, no SciPy.

>>> round(t_quantile(0.975, 1), 3), round(t_quantile(0.975, 4), 3)
(12.706, 2.776)
>>> m, half, n = mean_ci([1.0, 2.0, 3.0])
>>> m, round(half, 4), n
(2.0, 2.4841, 3)
"""

from __future__ import annotations

import math
from typing import Sequence


def t_two_sided_mass(t: float, df: int) -> float:
    """P(|T| < t) for Student's t with ``df`` (integer ≥ 1) degrees of freedom.

    Closed forms of Abramowitz & Stegun 26.7.3 / 26.7.4 (θ = atan(t / √df)).
    """
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if t <= 0:
        return 0.0
    theta = math.atan(t / math.sqrt(df))
    s, c = math.sin(theta), math.cos(theta)
    if df % 2 == 1:
        total, term = 0.0, c
        for k in range(3, df + 1, 2):  # cos θ · (1 + 2/3 cos²θ + 2·4/(3·5) cos⁴θ + …)
            total += term
            term *= c * c * (k - 1) / k
        return min(1.0, 2.0 / math.pi * (theta + s * total)) if df > 1 else 2.0 * theta / math.pi
    total, term = 0.0, 1.0
    for k in range(2, df + 1, 2):  # 1 + cos²θ/2 + 1·3/(2·4) cos⁴θ + …
        total += term
        term *= c * c * (k - 1) / k
    return min(1.0, s * total)


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile (p in [0.5, 1)) of Student's t with ``df`` degrees of freedom,
    by bisection on `t_two_sided_mass` (accurate to ~1e-10)."""
    if not 0.5 <= p < 1.0:
        raise ValueError(f"t_quantile needs 0.5 <= p < 1, got {p}")
    target = 2.0 * p - 1.0
    lo, hi = 0.0, 1.0
    while t_two_sided_mass(hi, df) < target:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if t_two_sided_mass(mid, df) < target:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12:
            break
    return (lo + hi) / 2.0


def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float | None, int]:
    """``(mean, half width, n)`` of the two-sided Student-t interval at ``level``:
    mean ± t_{(1+level)/2, n−1} · s / √n with the sample standard deviation s (n − 1).
    The half width is None when n < 2 (no interval from one value)."""
    n = len(values)
    if n == 0:
        raise ValueError("mean_ci needs at least one value")
    mean = sum(values) / n
    if n < 2:
        return mean, None, n
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, t_quantile((1.0 + level) / 2.0, n - 1) * math.sqrt(var / n), n


def bootstrap_means(diffs: Sequence[Sequence[float | None]], replicates: int = 10_000,
                    seed: int = 0) -> list[float]:
    """Replicate means of a paired two-way (seeds × questions) bootstrap.

    ``diffs[s][q]`` is the paired difference of seed ``s`` and question ``q`` (treatment −
    control on the same seed and question), None where either side is missing. Each replicate
    draws the seeds (rows) and the questions (columns) with replacement, independently, and
    takes the mean of the valid cells of the drawn grid, each cell counted as often as its row
    and its column were drawn; a replicate whose grid holds no valid cell is dropped. Both
    sources of variation, the seed and the question set, are resampled, so the interval
    speaks for other seeds and other questions of the same kind. Seeded (numpy's PCG64).
    """
    import numpy as np

    rows = len(diffs)
    cols = len(diffs[0]) if rows else 0
    if rows == 0 or cols == 0 or any(len(r) != cols for r in diffs):
        raise ValueError("bootstrap_means needs a non-empty seeds × questions grid "
                         "(every seed with the same questions)")
    if replicates < 1:
        raise ValueError(f"replicates must be >= 1, got {replicates}")
    values = np.array([[np.nan if v is None else float(v) for v in r] for r in diffs])
    valid = ~np.isnan(values)
    values = np.where(valid, values, 0.0)
    rng = np.random.default_rng(seed)
    seed_counts = rng.multinomial(rows, [1.0 / rows] * rows, size=replicates)
    question_counts = rng.multinomial(cols, [1.0 / cols] * cols, size=replicates)
    total = ((seed_counts @ values) * question_counts).sum(axis=1)
    cells = ((seed_counts @ valid.astype(float)) * question_counts).sum(axis=1)
    keep = cells > 0
    return (total[keep] / cells[keep]).tolist()


def percentile_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """The two-sided percentile interval of ``values`` at ``level`` (linear interpolation
    between order statistics, numpy's default)."""
    import numpy as np

    if not values:
        raise ValueError("percentile_interval needs at least one value")
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(np.asarray(values, dtype=float), [tail, 1.0 - tail])
    return float(low), float(high)
