"""Pure statistics for evaluation and re-scoring reports (plain Python numbers in and out).

Missing values are ``None`` throughout (a masked sample: its judge failed); every function says
how it treats them, and none turns them into 0.
"""

from __future__ import annotations

import math
from typing import Any, Hashable, Sequence

from rlfb.evaluation.pass_at_k import pass_at_k

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of already sorted values, linearly interpolated (numpy's default).

    >>> quantile([1.0, 2.0, 3.0, 4.0], 0.5), quantile([1.0, 2.0, 3.0, 4.0], 0.25)
    (2.5, 1.75)
    """
    if not sorted_values:
        raise ValueError("quantile of no values")
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def distribution(values: Sequence[float | None]) -> dict[str, Any]:
    """``n``, ``masked`` (None values), ``mean``, ``std`` (population), ``min``, ``max`` and the
    `QUANTILES` (keys ``q05`` ... ``q95``) of the values that are not None (all None when none).

    >>> d = distribution([1.0, None, 3.0])
    >>> d["n"], d["masked"], d["mean"], d["std"], d["q50"]
    (2, 1, 2.0, 1.0, 2.0)
    """
    valid = sorted(float(v) for v in values if v is not None)
    out: dict[str, Any] = {"n": len(valid), "masked": len(values) - len(valid)}
    if not valid:
        out.update({k: None for k in ("mean", "std", "min", "max")})
        out.update({_qkey(q): None for q in QUANTILES})
        return out
    mean = sum(valid) / len(valid)
    out.update(mean=mean, std=math.sqrt(sum((v - mean) ** 2 for v in valid) / len(valid)),
               min=valid[0], max=valid[-1])
    out.update({_qkey(q): quantile(valid, q) for q in QUANTILES})
    return out


def _qkey(q: float) -> str:
    return f"q{round(q * 100):02d}"


def average_ranks(values: Sequence[float]) -> list[float]:
    """Ranks 1..n with ties given their average rank.

    >>> average_ranks([10.0, 20.0, 10.0, 5.0])
    [2.5, 4.0, 2.5, 1.0]
    """
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson correlation; None when either side is constant or there are < 2 pairs."""
    if len(x) != len(y):
        raise ValueError(f"pearson got {len(x)} and {len(y)} values")
    if len(x) < 2:
        return None
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx == 0 or syy == 0:
        return None
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


def spearman(x: Sequence[float | None], y: Sequence[float | None]) -> float | None:
    """Spearman rank correlation (Pearson of average ranks) over the pairs where neither value
    is None; None when fewer than 2 such pairs or either side is constant.

    >>> spearman([1.0, 2.0, 3.0, None], [10.0, 30.0, 20.0, 5.0])
    0.5
    """
    pairs = [(float(a), float(b)) for a, b in zip(x, y) if a is not None and b is not None]
    if len(pairs) < 2:
        return None
    return pearson(average_ranks([a for a, _ in pairs]), average_ranks([b for _, b in pairs]))


def group_indices(keys: Sequence[Hashable]) -> dict[Hashable, list[int]]:
    """Sample indices of each group key, groups in order of first appearance."""
    out: dict[Hashable, list[int]] = {}
    for i, key in enumerate(keys):
        out.setdefault(key, []).append(i)
    return out


def pass_at_k_judged(per_prompt: Sequence[Sequence[bool | None]], ks: Sequence[int]
                     ) -> dict[int, dict[str, Any]]:
    """Unbiased pass@k per k over prompts, each given as its samples' verdicts (None = the judge
    failed). A prompt enters pass@k with m = its judged samples and c = its correct ones, so a
    failed judge shrinks the sample, never counts as wrong; prompts with m < k are left out and
    counted (``excluded``). ``value`` is None when no prompt has k judged samples.

    >>> r = pass_at_k_judged([[True, False], [False, None]], [1, 2])
    >>> r[1]["value"], r[1]["prompts"], r[2]["value"], r[2]["excluded"]
    (0.25, 2, 1.0, 1)
    """
    out: dict[int, dict[str, Any]] = {}
    for k in ks:
        scores = []
        for verdicts in per_prompt:
            judged = [v for v in verdicts if v is not None]
            if len(judged) >= k:
                scores.append(pass_at_k(len(judged), sum(judged), k))
        out[k] = {"value": sum(scores) / len(scores) if scores else None,
                  "prompts": len(scores), "excluded": len(per_prompt) - len(scores)}
    return out


def pass_ks(n: int) -> list[int]:
    """The k of pass@k to report for n samples per prompt: powers of two up to n, and n.

    >>> pass_ks(1), pass_ks(6), pass_ks(8)
    ([1], [1, 2, 4, 6], [1, 2, 4, 8])
    """
    ks, k = [], 1
    while k <= n:
        ks.append(k)
        k *= 2
    return ks if ks[-1] == n else [*ks, n]


def reliability_bins(confidences: Sequence[float], corrects: Sequence[bool], n_bins: int = 10
                     ) -> list[dict[str, Any]]:
    """Equal-width confidence bins over [0, 1] (p = 1 in the last), as `expected_calibration_
    error` bins them: each ``{"low", "high", "count", "mean_confidence", "accuracy"}`` (the
    last two None for an empty bin).

    >>> b = reliability_bins([0.95, 0.9, 0.2], [True, False, False], n_bins=2)
    >>> [(x["count"], x["accuracy"]) for x in b]
    [(1, 0.0), (2, 0.5)]
    """
    if len(confidences) != len(corrects):
        raise ValueError(f"{len(confidences)} confidences but {len(corrects)} verdicts")
    members: list[list[tuple[float, bool]]] = [[] for _ in range(n_bins)]
    for p, y in zip(confidences, corrects):
        members[min(int(p * n_bins), n_bins - 1)].append((float(p), bool(y)))
    bins = []
    for b, items in enumerate(members):
        bins.append({"low": b / n_bins, "high": (b + 1) / n_bins, "count": len(items),
                     "mean_confidence": sum(p for p, _ in items) / len(items) if items else None,
                     "accuracy": sum(y for _, y in items) / len(items) if items else None})
    return bins


def mean_or_none(values: Sequence[float | None]) -> float | None:
    """Mean of the values that are not None; None when there are none."""
    valid = [float(v) for v in values if v is not None]
    return sum(valid) / len(valid) if valid else None


def component_means(components: Sequence[dict[str, float | None]]) -> dict[str, dict[str, Any]]:
    """Per component name: ``{"mean", "n", "masked"}`` over the samples that report it (a None
    value is masked: counted, left out of the mean)."""
    names = sorted({name for parts in components for name in parts})
    out = {}
    for name in names:
        values = [parts[name] for parts in components if name in parts]
        valid = [v for v in values if v is not None]
        out[name] = {"mean": mean_or_none(valid), "n": len(valid),
                     "masked": len(values) - len(valid)}
    return out
