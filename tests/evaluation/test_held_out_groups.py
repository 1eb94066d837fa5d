"""Held-out figures per value of a prompt field, counted by hand."""

from __future__ import annotations

import pytest

from rlfb.evaluation.held_out import grouped_eval_metrics


def row(tier, correct, reward, hedge=None):
    out = {"fields": {"tier": tier}, "correct": correct, "reward": reward}
    if hedge is not None:
        out["hedge_class"] = hedge
    return out


def test_accuracy_reward_and_count_per_tier():
    rows = [row("easy", True, 1.0), row("easy", False, -4.0), row("easy", None, None),
            row("hard", False, 0.0), row("hard", False, 0.0), row("hard", True, 0.5)]
    m = grouped_eval_metrics(rows, ["tier"])
    # easy: 1 of 2 judged right, rewards (1 - 4) / 2, 3 samples; hard: 1 of 3, 0.5 / 3, 3
    assert m["eval/tier=easy/accuracy"] == 0.5 and m["eval/tier=easy/n"] == 3
    assert m["eval/tier=easy/reward"] == pytest.approx(-1.5, abs=1e-12)
    assert m["eval/tier=hard/accuracy"] == pytest.approx(1 / 3, abs=1e-12)
    assert m["eval/tier=hard/reward"] == pytest.approx(0.5 / 3, abs=1e-12)
    assert not any("hedge_rate" in k for k in m)


def test_hedge_rates_per_tier_and_missing_fields():
    rows = [row("easy", True, 1.0, "unhedged"), row("easy", False, -2.0, "hedged"),
            row("hard", None, 0.0, "uninformative"), row("hard", False, 0.0, "uninformative"),
            {"fields": {}, "correct": True, "reward": 1.0, "hedge_class": "unhedged"}]
    m = grouped_eval_metrics(rows, ["tier"])
    assert m["eval/tier=easy/hedge_rate"] == 0.5 and m["eval/tier=easy/wrong_unhedged_rate"] == 0
    assert m["eval/tier=hard/abstention_rate"] == 1.0  # the masked sample is left out
    assert m["eval/tier=hard/accuracy"] == 0.0
    assert m["eval/tier=None/n"] == 1 and m["eval/tier=None/accuracy"] == 1.0
    assert grouped_eval_metrics(rows, []) == {}
