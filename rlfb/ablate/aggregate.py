"""Aggregating an ablation's runs: per-run final/best metrics, mean ± 95% CI across seeds, and
mean curves. Pure functions over the records of each run's ``metrics.jsonl``; `write_sweep_report`
turns them into ``report.md`` and PNGs.

>>> recs = [{"step": 0, "eval/accuracy": 0.25}, {"step": 1, "reward/mean": 0.5},
...         {"step": 2, "reward/mean": 0.25, "eval/accuracy": 0.5}]
>>> run_summary(recs)["eval/accuracy"]
{'final': 0.5, 'best': 0.5}
>>> run_summary(recs)["reward/mean"]
{'final': 0.25, 'best': 0.5}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from rlfb.ablate.stats import mean_ci

#: Report metrics: key → (label, direction of "best": "max", "min", or None = final only).
METRICS: dict[str, tuple[str, str | None]] = {
    "eval/accuracy": ("held-out accuracy", "max"),
    "reward/mean": ("training reward (mean)", "max"),
    "eval/reward_mean": ("held-out reward (mean)", "max"),
    "eval/hedge_rate": ("held-out hedge rate", None),
    "eval/abstention_rate": ("held-out abstention rate", None),
    "eval/wrong_unhedged_rate": ("held-out wrong-unhedged rate", "min"),
}

#: PNG curves: file → (title, metric key).
CURVES: dict[str, tuple[str, str]] = {
    "reward.png": ("Training reward (mean per step)", "reward/mean"),
    "eval_accuracy.png": ("Held-out accuracy", "eval/accuracy"),
    "hedge_rate.png": ("Held-out hedge rate", "eval/hedge_rate"),
    "wrong_unhedged_rate.png": ("Held-out wrong-unhedged rate", "eval/wrong_unhedged_rate"),
}


def metric_values(records: Sequence[Mapping[str, Any]], key: str) -> list[tuple[int, float]]:
    """``(step, value)`` of every record that logged ``key`` (None values skipped)."""
    return [(int(r["step"]), float(r[key])) for r in records if r.get(key) is not None]


def run_summary(records: Sequence[Mapping[str, Any]],
                metrics: Mapping[str, tuple[str, str | None]] = METRICS
                ) -> dict[str, dict[str, float | None]]:
    """Per metric logged by the run: ``final`` (value at the last step that logged it) and
    ``best`` (max or min over the run by the metric's direction; None for final-only ones)."""
    out: dict[str, dict[str, float | None]] = {}
    for key, (_, direction) in metrics.items():
        values = [v for _, v in metric_values(records, key)]
        if not values:
            continue
        best = max(values) if direction == "max" else min(values) if direction == "min" else None
        out[key] = {"final": values[-1], "best": best}
    return out


@dataclass(frozen=True)
class Cell:
    """One aggregated figure: mean ± half width (None when n < 2) over n runs."""

    mean: float
    half_width: float | None
    n: int

    def text(self, digits: int = 3) -> str:
        """``"0.250 ± 0.120"`` (or just the mean when there is no interval)."""
        if self.half_width is None:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.half_width:.{digits}f}"


def aggregate(summaries: Sequence[Mapping[str, Mapping[str, float | None]]], key: str,
              which: str) -> Cell | None:
    """Mean ± 95% Student-t CI of ``summaries[i][key][which]`` over the runs that have it;
    None when no run does."""
    values = [s[key][which] for s in summaries if key in s and s[key][which] is not None]
    if not values:
        return None
    mean, half, n = mean_ci([float(v) for v in values])  # type: ignore[arg-type]
    return Cell(mean, half, n)


def paired_difference(a: Mapping[int, float], b: Mapping[int, float]) -> Cell | None:
    """Mean ± 95% CI of ``a[seed] − b[seed]`` over the seeds both have (matched seeds);
    None when they share none."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    mean, half, n = mean_ci([a[s] - b[s] for s in seeds])
    return Cell(mean, half, n)


#: Grouped eval metrics (``eval.group_by``) shown per group: suffix → label.
GROUP_METRICS: dict[str, str] = {
    "accuracy": "accuracy",
    "reward": "held-out reward",
    "hedge_rate": "hedge rate",
    "abstention_rate": "abstention rate",
    "wrong_unhedged_rate": "wrong-unhedged rate",
    "n": "samples",
}

_GROUP_KEY = re.compile(r"^eval/([^=/]+)=([^/]+)/([^/]+)$")


def group_keys(records: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, set[str]]]:
    """``{field: {value: metrics}}`` of the grouped eval metrics the records hold
    (``eval/<field>=<value>/<metric>``, written for ``eval.group_by``).

    >>> group_keys([{"step": 0, "eval/tier=easy/accuracy": 1.0, "eval/accuracy": 0.5}])
    {'tier': {'easy': {'accuracy'}}}
    """
    out: dict[str, dict[str, set[str]]] = {}
    for record in records:
        for key in record:
            m = _GROUP_KEY.match(key)
            if m:
                out.setdefault(m.group(1), {}).setdefault(m.group(2), set()).add(m.group(3))
    return out


def final_value(records: Sequence[Mapping[str, Any]], key: str) -> float | None:
    """The value of ``key`` at the last step that logged it (None if none did)."""
    values = metric_values(records, key)
    return values[-1][1] if values else None


def mean_curve(runs: Sequence[Sequence[Mapping[str, Any]]], key: str
               ) -> tuple[list[int], list[float], list[float], list[float], list[int]]:
    """``(steps, mean, low, high, n)`` of ``key`` across runs at each step any run logged it;
    low/high are the smallest and largest run values at that step (the band), n how many runs
    logged it there."""
    by_step: dict[int, list[float]] = {}
    for records in runs:
        for step, value in metric_values(records, key):
            by_step.setdefault(step, []).append(value)
    steps = sorted(by_step)
    vals = [by_step[s] for s in steps]
    return (steps, [sum(v) / len(v) for v in vals], [min(v) for v in vals],
            [max(v) for v in vals], [len(v) for v in vals])
