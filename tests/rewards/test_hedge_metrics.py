"""Hedging metrics and ECE, computed by hand."""

from __future__ import annotations

import pytest

from rlfb.rewards.hedging.detect import HedgeClass
from rlfb.rewards.hedging.metrics import HedgeRecord, expected_calibration_error, hedging_metrics


def test_rates_by_hand():
    records = [
        ("unhedged", True), ("unhedged", True), ("unhedged", False),   # 2/3 right
        ("hedged", True), ("hedged", False), ("hedged", False),        # 1/3 right
        ("uninformative", False), ("uninformative", True),
        ("hedged", None),                                              # masked
    ]
    m = hedging_metrics(records)
    assert m["n"] == 8 and m["n_masked"] == 1
    assert m["hedge_rate"] == pytest.approx(3 / 8, rel=1e-12)
    assert m["abstention_rate"] == pytest.approx(2 / 8, rel=1e-12)
    assert m["accuracy_of_answered"] == pytest.approx(3 / 6, rel=1e-12)
    assert m["accuracy_unhedged"] == pytest.approx(2 / 3, rel=1e-12)
    assert m["accuracy_hedged"] == pytest.approx(1 / 3, rel=1e-12)
    assert m["wrong_unhedged_rate"] == pytest.approx(1 / 8, rel=1e-12)
    assert "ece" not in m


def test_empty_denominators_are_none_not_zero():
    m = hedging_metrics([("uninformative", True)])
    assert m["accuracy_of_answered"] is None and m["accuracy_hedged"] is None
    assert m["abstention_rate"] == 1.0
    empty = hedging_metrics([])
    assert empty["n"] == 0 and empty["hedge_rate"] is None


def test_ece_by_hand():
    # bin [0.8, 0.9): p = 0.8, 0.8 -> acc 0.5, conf 0.8, gap 0.3, weight 2/5
    # bin [0.3, 0.4): p = 0.3, 0.3, 0.3 -> acc 1/3, conf 0.3, gap 1/30, weight 3/5
    conf = [0.8, 0.8, 0.3, 0.3, 0.3]
    ok = [True, False, True, False, False]
    expected = 2 / 5 * 0.3 + 3 / 5 * (1 / 3 - 0.3)
    assert expected_calibration_error(conf, ok) == pytest.approx(expected, rel=1e-12)


def test_ece_puts_one_in_the_last_bin_and_respects_n_bins():
    assert expected_calibration_error([1.0, 0.95], [True, True]) == pytest.approx(0.025, rel=1e-12)
    # one bin: |mean acc - mean conf| = |0.5 - 0.5| = 0
    assert expected_calibration_error([0.9, 0.1], [True, False], n_bins=1) == pytest.approx(
        abs(0.5 - 0.5), abs=1e-12)
    # ten bins: each record alone, gaps 0.1 and 0.1
    assert expected_calibration_error([0.9, 0.1], [True, False]) == pytest.approx(0.1, rel=1e-12)


def test_confidences_feed_ece_only_from_judged_records():
    records = [HedgeRecord(HedgeClass.HEDGED, True, 0.6),
               HedgeRecord(HedgeClass.HEDGED, None, 0.9),
               ("unhedged", False)]
    m = hedging_metrics(records)
    assert m["n_confidence"] == 1
    assert m["mean_confidence"] == pytest.approx(0.6, rel=1e-12)
    assert m["ece"] == pytest.approx(0.4, rel=1e-12)


def test_bad_inputs():
    with pytest.raises(ValueError, match="not in"):
        expected_calibration_error([1.5], [True])
    with pytest.raises(ValueError, match="at least one"):
        expected_calibration_error([], [])
    with pytest.raises(ValueError):
        hedging_metrics([("sort of", True)])


def test_metrics_of_hand_labelled_completions_match_hand_counts():
    """End to end, training nothing: text -> hedging reward (phrases detector, math verifier)
    -> records -> metrics, against counts made by hand from the table below."""
    from rlfb.rewards import get_reward
    from rlfb.rewards.hedging.metrics import records_from_results

    # (completion, reference): hand label (class, correct)
    cases = [
        ("<answer>12</answer>", "12"),                                   # unhedged, right
        ("The answer is 7.", "7"),                                       # unhedged, right
        ("The answer is 9.", "8"),                                       # unhedged, wrong
        ("<answer>100</answer>", "99"),                                  # unhedged, wrong
        ("I think it's 15. <answer>15</answer>", "15"),                  # hedged, right
        ("I don't know. <answer>890607</answer>", "890607"),             # hedged, right
        ("Sorry, I can't compute that. <answer>12</answer>", "13"),      # hedged, wrong
        ("That's a tough one. The answer is 1920.", "1921"),             # hedged, wrong
        ("The answer is 42, with low confidence.", "42"),                # hedged, right
        ("I don't know.", "5"),                                          # uninformative
        ("I have no idea. <answer>N/A</answer>", "6"),                   # uninformative
    ]
    reward = get_reward("hedging", verifier="math")
    m = hedging_metrics(records_from_results(reward.score(c, r) for c, r in cases))
    # by hand: n = 11; unhedged 4 (2 right), hedged 5 (3 right), uninformative 2
    assert m["n"] == 11 and m["n_masked"] == 0
    assert m["hedge_rate"] == pytest.approx(5 / 11, rel=1e-12)
    assert m["abstention_rate"] == pytest.approx(2 / 11, rel=1e-12)
    assert m["accuracy_of_answered"] == pytest.approx(5 / 9, rel=1e-12)
    assert m["accuracy_unhedged"] == pytest.approx(2 / 4, rel=1e-12)
    assert m["accuracy_hedged"] == pytest.approx(3 / 5, rel=1e-12)
    assert m["wrong_unhedged_rate"] == pytest.approx(2 / 11, rel=1e-12)
