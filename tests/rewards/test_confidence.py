"""Stated-confidence parsing and the proper scoring rules, with the arithmetic written out."""

from __future__ import annotations

import math

import pytest

from rlfb.errors import ConfigError
from rlfb.rewards.hedging.confidence import brier_score, log_score, parse_stated_confidence, proper_score


@pytest.mark.parametrize("text, p", [
    ("The answer is 7. Confidence: 70%", 0.70),
    ("Confidence: 0.7", 0.70),
    ("confidence = 0.85", 0.85),
    ("**Confidence:** 75%", 0.75),
    ("Confidence (0-1): 0.8", 0.80),
    ("Confidence: 70", 0.70),
    ("my confidence is 60%", 0.60),
    ("Certainty: 90 percent", 0.90),
    ("I'm 80% sure it's Paris.", 0.80),
    ("I am about 95 percent confident.", 0.95),
    ("Paris (90% confident).", 0.90),
    ("It's 7, 70% sure.", 0.70),
    ("Answer: 1889 (confidence 85%)", 0.85),
    ("Confidence: .5", 0.50),
    ("I\u2019m 30% sure.", 0.30),
])
def test_parses_stated_confidence(text, p):
    stated = parse_stated_confidence(text)
    assert stated is not None
    assert stated.value == pytest.approx(p, abs=1e-12)
    assert text[stated.start:stated.start + len(stated.text)] == stated.text


@pytest.mark.parametrize("text", [
    "The answer is 7.",
    "A 95% confidence interval is (1.2, 3.4).",
    "With 95% confidence, the true mean lies between 4.1 and 5.3.",
    "I'm not 100% sure, but it's 7.",
    "The probability is 0.3.",
    "There is a 70% chance of rain.",
    "Confidence: high",
    "Confidence: 250%",
    "The confidence level is 95%.",
])
def test_does_not_parse_non_statements(text):
    assert parse_stated_confidence(text) is None


def test_last_statement_wins():
    stated = parse_stated_confidence("Confidence: 40%. On reflection, confidence: 90%.")
    assert stated is not None and stated.value == pytest.approx(0.9, abs=1e-12)


def test_log_score_by_hand():
    assert log_score(0.7, True) == pytest.approx(math.log(0.7), rel=1e-12)
    assert log_score(0.7, False) == pytest.approx(math.log(0.3), rel=1e-12)
    # clipping: p = 1 and wrong costs log(eps), not -inf; p = 0 and right likewise
    assert log_score(1.0, False, eps=1e-3) == pytest.approx(math.log(1e-3), rel=1e-12)
    assert log_score(0.0, True, eps=1e-3) == pytest.approx(math.log(1e-3), rel=1e-12)
    assert log_score(0.5, True, scale=2.0) == pytest.approx(2 * math.log(0.5), rel=1e-12)


def test_brier_score_by_hand():
    # y = 1, p = 0.8: (0.8 - 1)^2 = 0.04
    assert brier_score(0.8, True) == pytest.approx(-0.04, abs=1e-12)
    assert brier_score(0.8, True, form="one_minus") == pytest.approx(0.96, abs=1e-12)
    # y = 0, p = 0.8: 0.64
    assert brier_score(0.8, False) == pytest.approx(-0.64, abs=1e-12)
    assert brier_score(0.0, False, form="one_minus") == 1.0


def test_proper_score_is_maximised_by_the_true_probability():
    """Expected score q·S(p, right) + (1-q)·S(p, wrong) peaks at p = q for both rules."""
    q = 0.7
    grid = [i / 100 for i in range(1, 100)]
    for rule in ("log", "brier"):
        expected = [q * proper_score(p, True, rule) + (1 - q) * proper_score(p, False, rule)
                    for p in grid]
        assert grid[expected.index(max(expected))] == pytest.approx(q, abs=1e-12)


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="not a probability"):
        log_score(1.2, True)
    with pytest.raises(ValueError, match="eps"):
        log_score(0.5, True, eps=0.0)
    with pytest.raises(ConfigError, match="'log' or 'brier'"):
        proper_score(0.5, True, "hinge")
    with pytest.raises(ConfigError, match="Brier form"):
        brier_score(0.5, True, form="positive")  # type: ignore[arg-type]
