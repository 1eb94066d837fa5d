"""Held-out hedging metrics (eval.hedge_detector), hand-counted."""

from __future__ import annotations

import pytest

from rlfb.config import load_config
from rlfb.rewards.hedging.detect import get_hedge_detector
from rlfb.evaluation.held_out import hedge_eval_metrics

TEXTS = ["<answer>7</answer>",                    # unhedged, correct
         "<answer>12</answer>",                   # unhedged, wrong
         "I think it is <answer>9</answer>",      # hedged, wrong
         "I don't know.",                         # uninformative, wrong
         "<answer>5</answer>"]                    # unhedged, judge failed (masked)


def test_hedge_eval_metrics_by_hand():
    m = hedge_eval_metrics(get_hedge_detector("phrases"), TEXTS,
                           [True, False, False, False, None])
    # 4 judged: 1 hedged, 1 uninformative, 1 unhedged-and-wrong; answered 3, 1 correct
    assert m == {"eval/hedge_rate": 0.25, "eval/abstention_rate": 0.25,
                 "eval/wrong_unhedged_rate": 0.25, "eval/accuracy_of_answered": 1 / 3}


def test_hedge_eval_metrics_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="2 texts and 1 verdicts"):
        hedge_eval_metrics(get_hedge_detector("phrases"), TEXTS[:2], [True])


def test_eval_hedge_detector_is_a_config_field():
    cfg = load_config(None, ["eval.hedge_detector=phrases"])
    assert cfg.eval.hedge_detector == "phrases" and cfg.eval.hedge_detector_options == {}
    assert load_config(None).eval.hedge_detector is None
