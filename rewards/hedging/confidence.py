"""Stated confidence: parse it from a completion and score it with a proper scoring rule.

When a completion states how sure it is ("Confidence: 70%"), a proper scoring rule pays the most
in expectation for reporting the true probability of being right, which is exactly what the
hedging reward wants to teach. Two rules, as pure functions:

- log score: ``scale · log p`` if correct, ``scale · log(1 − p)`` if wrong, with ``p`` clipped to
  ``[eps, 1 − eps]`` so that a confident miss costs ``scale · log eps`` instead of −∞. Its maximum
  is 0 (certain and right).
- Brier score: ``−(p − y)²`` (``form="negative"``, the default, maximum 0 like the log score) or
  ``1 − (p − y)²`` (``form="one_minus"``, in [0, 1]), where ``y`` is 1 if correct else 0.

Recognised statements (case-insensitive; the *last* one in the text wins, as the final answer's):

- a label: ``confidence: 70%``, ``Confidence: 0.7``, ``confidence = 0.85``, ``certainty: 90%``,
  ``my confidence is 60%``, ``Confidence (0-1): 0.8``, ``**Confidence:** 75%``;
- first person: ``I'm 80% sure``, ``I am 95 percent confident``, ``I'd say I'm about 60% certain``;
- a bare or parenthesised percentage of sureness: ``(90% confident)``, ``70% sure``.

Numbers: a percentage is divided by 100; a bare number in [0, 1] is a probability; a bare
number in (1, 100] after a label is read as a percentage ("Confidence: 70"). Values above 100%
are ignored. Not recognised, on purpose: "with 95% confidence" and "95% confidence interval"
(statistics as the subject matter), "not 100% sure" (a hedge, not a probability), and verbal
levels ("confidence: high").

>>> parse_stated_confidence("The answer is 7. Confidence: 70%").value
0.7
>>> round(log_score(0.7, True), 4), round(brier_score(0.7, False), 2)
(-0.3567, -0.49)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

from rlfb.errors import ConfigError

_NUM = r"(\d{1,3}(?:\.\d+)?|\.\d+)"
_PCT = r"\s*(%|percent\b|per\s+cent\b)?"
_SURE = r"(?:sure|certain|confident|positive)"

_PATTERNS: tuple[re.Pattern[str], ...] = (
    # labels: "confidence: 70%", "my confidence is 0.7", "Confidence (0-1): 0.8"
    re.compile(
        r"\b(?:confidence|certainty|confidence\s+score|probability\s+(?:of\s+being\s+)?correct|"
        r"p\(correct\))\**\s*(?:\([^)\n]{0,20}\))?\s*\**\s*(?:[:=]|is|of)?\s*\**\s*(?:~|about\s+|"
        r"around\s+|approximately\s+)?" + _NUM + _PCT
    ),
    # first person: "I'm 80% sure", "I am about 95 percent confident"
    re.compile(
        r"(?<!not\s)\b(?:i'm|i\s+am|im|i\s+feel|i'd\s+say\s+i'm)\s+(?:about\s+|around\s+|roughly\s+|"
        r"approximately\s+|maybe\s+|only\s+)?" + _NUM + r"\s*(%|percent\b|per\s+cent\b)\s+" + _SURE
    ),
    # "(90% confident)", "70% sure"
    re.compile(
        r"(?<!not\s)(?<!not\s\s)(?:\(\s*)?(?<![\w.])" + _NUM + r"\s*(%|percent\b)\s+"
        r"(?:sure|certain|confident)\b"
    ),
)


@dataclass(frozen=True)
class StatedConfidence:
    """A probability of being correct stated in a completion.

    Attributes:
        value: the probability, in [0, 1].
        text: the statement as written.
        start: character offset of the statement in the text.
    """

    value: float
    text: str
    start: int


def _to_probability(number: str, percent: str | None) -> float | None:
    x = float(number)
    if percent:
        return x / 100.0 if x <= 100.0 else None
    if x <= 1.0:
        return x
    return x / 100.0 if x <= 100.0 else None


def parse_stated_confidence(text: str) -> StatedConfidence | None:
    """The last stated probability of being correct in ``text``, or None when none is stated."""
    lowered = text.lower().replace("\u2019", "'")
    best: StatedConfidence | None = None
    for pattern in _PATTERNS:
        for m in pattern.finditer(lowered):
            if re.match(r"\s*(?:intervals?|level)\b", lowered[m.end():]):
                continue  # "95% confidence interval": statistics, not a stated belief
            p = _to_probability(m.group(1), m.group(2))
            if p is None:
                continue
            if best is None or m.start() > best.start:
                best = StatedConfidence(p, text[m.start():m.end()], m.start())
    return best


def _check_probability(p: float) -> None:
    if not 0.0 <= p <= 1.0 or math.isnan(p):
        raise ValueError(f"confidence {p!r} is not a probability; give a value in [0, 1]")


def log_score(p: float, correct: bool, *, eps: float = 1e-4, scale: float = 1.0) -> float:
    """``scale · log(p)`` if correct else ``scale · log(1 − p)``, with p clipped to [eps, 1 − eps].

    >>> round(log_score(0.5, False), 6) == round(math.log(0.5), 6)
    True
    >>> round(log_score(1.0, False, eps=0.01), 6) == round(math.log(0.01), 6)
    True
    """
    _check_probability(p)
    if not 0.0 < eps < 0.5:
        raise ValueError(f"eps {eps!r} must be in (0, 0.5), e.g. 1e-4")
    q = min(max(p, eps), 1.0 - eps)
    return scale * math.log(q if correct else 1.0 - q)


BrierForm = Literal["negative", "one_minus"]


def brier_score(p: float, correct: bool, *, form: BrierForm = "negative") -> float:
    """``−(p − y)²`` (form "negative") or ``1 − (p − y)²`` (form "one_minus"); y = 1 if correct.

    >>> round(brier_score(0.8, True), 6), round(brier_score(0.8, True, form="one_minus"), 6)
    (-0.04, 0.96)
    """
    _check_probability(p)
    squared = (p - (1.0 if correct else 0.0)) ** 2
    if form == "negative":
        return -squared
    if form == "one_minus":
        return 1.0 - squared
    raise ConfigError(f"unknown Brier form {form!r}; use 'negative' or 'one_minus'")


def proper_score(
    p: float, correct: bool, rule: str, *, eps: float = 1e-4, scale: float = 1.0,
    brier_form: BrierForm = "negative",
) -> float:
    """Dispatch to `log_score` (rule "log") or `brier_score` (rule "brier"), times ``scale``
    for Brier too."""
    if rule == "log":
        return log_score(p, correct, eps=eps, scale=scale)
    if rule == "brier":
        return scale * brier_score(p, correct, form=brier_form)
    raise ConfigError(f"unknown confidence scoring rule {rule!r}; use 'log' or 'brier'")
