"""Aggregation of ablation runs, against hand-computed values."""

from __future__ import annotations

import math

import pytest

from rlfb.ablate.aggregate import (
    Cell,
    aggregate,
    mean_curve,
    metric_values,
    paired_difference,
    run_summary,
)
from rlfb.ablate.stats import mean_ci, t_quantile, t_two_sided_mass

# t_{0.975, df} from printed tables
T_TABLE = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 9: 2.262, 29: 2.045}


@pytest.mark.parametrize("df,expected", sorted(T_TABLE.items()))
def test_t_quantile_matches_tables(df, expected):
    assert t_quantile(0.975, df) == pytest.approx(expected, abs=5e-4)


def test_t_mass_closed_forms():
    # df=1 is Cauchy: P(|T| < 1) = 1/2; df=2: P(|T| < t) = t / sqrt(2 + t^2)
    assert t_two_sided_mass(1.0, 1) == pytest.approx(0.5, abs=1e-12)
    assert t_two_sided_mass(2.0, 2) == pytest.approx(2.0 / math.sqrt(6.0), abs=1e-12)
    assert t_two_sided_mass(0.0, 5) == 0.0


def test_mean_ci_by_hand():
    # values 0.2, 0.4, 0.9: mean 0.5, s^2 = (0.09 + 0.01 + 0.16) / 2 = 0.13
    mean, half, n = mean_ci([0.2, 0.4, 0.9])
    assert (round(mean, 12), n) == (0.5, 3)
    assert half == pytest.approx(4.302653 * math.sqrt(0.13 / 3), rel=1e-6)
    assert mean_ci([0.7]) == (0.7, None, 1)
    with pytest.raises(ValueError):
        mean_ci([])


RUN = [
    {"step": 0, "eval/accuracy": 0.25, "eval/wrong_unhedged_rate": 0.5},
    {"step": 1, "reward/mean": -1.0},
    {"step": 2, "reward/mean": 0.5, "eval/accuracy": None},
    {"step": 3, "reward/mean": 0.0, "eval/accuracy": 0.125, "eval/wrong_unhedged_rate": 0.375,
     "eval/hedge_rate": 0.25},
]


def test_run_summary_final_and_best():
    s = run_summary(RUN)
    assert s["eval/accuracy"] == {"final": 0.125, "best": 0.25}
    assert s["reward/mean"] == {"final": 0.0, "best": 0.5}
    assert s["eval/wrong_unhedged_rate"] == {"final": 0.375, "best": 0.375}  # best = min
    assert s["eval/hedge_rate"] == {"final": 0.25, "best": None}  # no direction
    assert "eval/abstention_rate" not in s
    assert metric_values(RUN, "eval/accuracy") == [(0, 0.25), (3, 0.125)]


def test_aggregate_cells():
    summaries = [run_summary(RUN), {"eval/accuracy": {"final": 0.375, "best": 0.5}}, {}]
    cell = aggregate(summaries, "eval/accuracy", "final")
    # finals 0.125 and 0.375: mean 0.25, s = 0.1767767, half = 12.7062 * s / sqrt(2) = 1.588
    assert cell.n == 2 and cell.mean == 0.25
    assert cell.half_width == pytest.approx(12.706205 * 0.125, rel=1e-6)
    assert cell.text() == "0.250 ± 1.588"
    assert aggregate(summaries, "eval/hedge_rate", "best") is None
    assert aggregate(summaries, "eval/hedge_rate", "final") == Cell(0.25, None, 1)
    assert Cell(0.25, None, 1).text() == "0.250"


def test_paired_difference_uses_matched_seeds():
    diff = paired_difference({0: 0.5, 1: 0.75, 2: 0.9}, {0: 0.25, 1: 0.25})
    # differences 0.25, 0.5 (seed 2 unmatched): mean 0.375, s = 0.1767767
    assert diff.n == 2 and diff.mean == 0.375
    assert diff.half_width == pytest.approx(12.706205 * 0.125, rel=1e-6)
    assert paired_difference({0: 1.0}, {1: 1.0}) is None


def test_mean_curve_band_is_min_max():
    a = [{"step": 1, "reward/mean": 1.0}, {"step": 2, "reward/mean": 3.0}]
    b = [{"step": 1, "reward/mean": 2.0}]
    steps, mean, lo, hi, n = mean_curve([a, b], "reward/mean")
    assert steps == [1, 2] and mean == [1.5, 3.0]
    assert lo == [1.0, 3.0] and hi == [2.0, 3.0] and n == [2, 1]
