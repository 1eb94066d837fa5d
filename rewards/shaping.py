"""Reward shaping as pure functions of lengths, sequences and numbers.

Each returns a float to *add* to a reward (penalties are ≤ 0). All are usable inside a
``composite`` reward as components of kind ``"shaping"`` (see `rlfb.rewards.shaping_reward`).

>>> soft_overlong_penalty(90, max_length=100, cache_length=20)
-0.5
>>> repetition_penalty("a b a b a b", ngram=2)
-0.6
"""

from __future__ import annotations

from typing import Hashable, Sequence


def _check_length(name: str, value: float) -> None:
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")


def length_penalty(
    length: int, *, max_length: int | None = None, free_length: int = 0, coef: float = 1.0
) -> float:
    """A linear penalty on length beyond ``free_length``.

    With ``max_length``: ``−coef · min(1, max(0, L − free) / (max_length − free))``, i.e. 0 up
    to ``free_length``, falling linearly to ``−coef`` at ``max_length`` and staying there.
    Without it: ``−coef · max(0, L − free)`` (``coef`` per unit of length).

    >>> length_penalty(60, max_length=100, free_length=20)
    -0.5
    >>> length_penalty(25, free_length=20, coef=0.01)
    -0.05
    """
    _check_length("length", length)
    _check_length("free_length", free_length)
    excess = max(0, length - free_length)
    if max_length is None:
        return -coef * excess
    if max_length <= free_length:
        raise ValueError(f"max_length ({max_length}) must exceed free_length ({free_length})")
    return -coef * min(1.0, excess / (max_length - free_length))


def soft_overlong_penalty(length: int, max_length: int, cache_length: int) -> float:
    """DAPO's soft overlong punishment (Yu et al. 2025, eq. 13).

    0 when ``L ≤ max_length − cache_length``; ``(max_length − cache_length − L) / cache_length``
    inside the buffer (from 0 down to −1); −1 beyond ``max_length``.

    >>> soft_overlong_penalty(80, 100, 20), soft_overlong_penalty(100, 100, 20)
    (0.0, -1.0)
    """
    _check_length("length", length)
    if cache_length <= 0 or cache_length > max_length:
        raise ValueError(f"cache_length must be in (0, max_length={max_length}], "
                         f"got {cache_length}")
    start = max_length - cache_length
    if length <= start:
        return 0.0
    if length <= max_length:
        return (start - length) / cache_length
    return -1.0


def repetition_penalty(
    sequence: str | Sequence[Hashable], *, ngram: int = 3, coef: float = 1.0
) -> float:
    """``−coef ·`` the fraction of repeated n-grams: ``1 − unique n-grams / all n-grams``.

    ``sequence`` is token ids (any hashables) or a text, split on whitespace. Fewer than
    ``ngram`` tokens give 0 (nothing can repeat).

    >>> repetition_penalty([1, 2, 3, 1, 2, 3], ngram=3)
    -0.25
    """
    if ngram < 1:
        raise ValueError(f"ngram must be >= 1, got {ngram}")
    tokens = sequence.split() if isinstance(sequence, str) else list(sequence)
    grams = [tuple(tokens[i:i + ngram]) for i in range(len(tokens) - ngram + 1)]
    if not grams:
        return 0.0
    return -coef * (1.0 - len(set(grams)) / len(grams))


def clip_reward(x: float, low: float | None = None, high: float | None = None) -> float:
    """``x`` clipped to ``[low, high]`` (either bound may be None).

    >>> clip_reward(-5.0, low=-1.0), clip_reward(0.3, low=-1.0, high=1.0)
    (-1.0, 0.3)
    """
    if low is not None and high is not None and low > high:
        raise ValueError(f"clip bounds reversed: low {low} > high {high}")
    if low is not None and x < low:
        return float(low)
    if high is not None and x > high:
        return float(high)
    return float(x)


def group_length_reward(lengths: Sequence[int], correct: Sequence[bool]) -> list[float]:
    """Kimi k1.5's length reward within one prompt's group of samples.

    ``λ_i = 0.5 − (L_i − min L) / (max L − min L)``; a correct sample gets ``λ_i``, a wrong one
    ``min(0, λ_i)``. All lengths equal gives 0 for everyone.

    >>> group_length_reward([10, 20, 30], [True, True, False])
    [0.5, 0.0, -0.5]
    """
    if len(lengths) != len(correct):
        raise ValueError(f"{len(lengths)} lengths but {len(correct)} correctness labels")
    if not lengths:
        return []
    lo, hi = min(lengths), max(lengths)
    if hi == lo:
        return [0.0] * len(lengths)
    out = []
    for length, ok in zip(lengths, correct):
        lam = 0.5 - (length - lo) / (hi - lo)
        out.append(lam if ok else min(0.0, lam))
    return out
