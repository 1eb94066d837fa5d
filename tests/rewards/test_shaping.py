"""Shaping functions with hand-computed values, and the shaping reward."""

from __future__ import annotations

import pytest

from rlfb.errors import ConfigError
from rlfb.rewards.shaping import (
    clip_reward,
    group_length_reward,
    length_penalty,
    repetition_penalty,
    soft_overlong_penalty,
)
from rlfb.rewards.shaping_reward import ShapingReward


@pytest.mark.parametrize("length, expected", [
    (0, 0.0), (80, 0.0),          # L <= Lmax - Lcache = 80: no penalty
    (81, -1 / 20), (90, -0.5),    # in the buffer: (80 - L) / 20
    (100, -1.0),                  # at Lmax: (80 - 100) / 20 = -1
    (101, -1.0), (500, -1.0),     # beyond Lmax
])
def test_soft_overlong_penalty(length, expected):
    assert soft_overlong_penalty(length, max_length=100, cache_length=20) == pytest.approx(
        expected, abs=1e-12)


def test_soft_overlong_bad_buffer():
    with pytest.raises(ValueError, match="cache_length"):
        soft_overlong_penalty(10, max_length=100, cache_length=0)
    with pytest.raises(ValueError, match="cache_length"):
        soft_overlong_penalty(10, max_length=100, cache_length=101)


@pytest.mark.parametrize("length, expected", [
    (10, 0.0), (20, 0.0),         # up to free_length
    (40, -0.5 * 20 / 80),         # (40 - 20) / (100 - 20) = 0.25, times coef 0.5
    (100, -0.5), (200, -0.5),     # capped at -coef
])
def test_length_penalty_bounded(length, expected):
    got = length_penalty(length, max_length=100, free_length=20, coef=0.5)
    assert got == pytest.approx(expected, abs=1e-12)


def test_length_penalty_per_unit():
    assert length_penalty(130, free_length=100, coef=0.01) == pytest.approx(-0.3, abs=1e-12)
    assert length_penalty(90, free_length=100, coef=0.01) == 0.0
    with pytest.raises(ValueError, match="must exceed"):
        length_penalty(5, max_length=10, free_length=10)
    with pytest.raises(ValueError, match="length must be >= 0"):
        length_penalty(-1)


def test_repetition_penalty():
    # bigrams of a b a b a b: ab ba ab ba ab -> 5 total, 2 unique -> 1 - 2/5 = 0.6
    assert repetition_penalty("a b a b a b", ngram=2) == pytest.approx(-0.6, abs=1e-12)
    # trigrams of 1 2 3 1 2 3: 123 231 312 123 -> 4 total, 3 unique -> 0.25, coef 2
    assert repetition_penalty([1, 2, 3, 1, 2, 3], ngram=3, coef=2.0) == pytest.approx(
        -0.5, abs=1e-12)
    assert repetition_penalty("all words differ here", ngram=1) == 0.0
    assert repetition_penalty([1, 2], ngram=3) == 0.0
    with pytest.raises(ValueError, match="ngram"):
        repetition_penalty("a", ngram=0)


def test_clip_reward():
    assert clip_reward(5.0, -1.0, 1.0) == 1.0
    assert clip_reward(-5.0, -1.0, 1.0) == -1.0
    assert clip_reward(0.25, -1.0, 1.0) == 0.25
    assert clip_reward(7.0, low=0.0) == 7.0
    assert clip_reward(-7.0, high=0.0) == -7.0
    with pytest.raises(ValueError, match="reversed"):
        clip_reward(0.0, 1.0, -1.0)


def test_group_length_reward():
    # min 10, max 50: lambda = 0.5 - (L - 10) / 40 -> 0.5, 0.25, -0.5
    got = group_length_reward([10, 20, 50], [True, False, True])
    assert got == pytest.approx([0.5, 0.0, -0.5], abs=1e-12)  # wrong: min(0, 0.25) = 0
    assert group_length_reward([7, 7], [True, False]) == [0.0, 0.0]
    assert group_length_reward([], []) == []


def test_shaping_reward_in_words_and_chars():
    words = ShapingReward("soft_overlong", unit="words", max_length=10, cache_length=4)
    # 8 words: (6 - 8) / 4 = -0.5
    result = words.score("one two three four five six seven eight", None)
    assert result.value == pytest.approx(-0.5, abs=1e-12)
    assert result.info == {"length": 8, "unit": "words"}
    chars = ShapingReward("length_penalty", unit="chars", max_length=10, coef=1.0)
    assert chars.score("abcde", None).value == pytest.approx(-0.5, abs=1e-12)
    rep = ShapingReward("repetition", unit="words", ngram=2)
    assert rep.score("a b a b a b", None).value == pytest.approx(-0.6, abs=1e-12)


def test_shaping_reward_in_tokens(tmp_path):
    from transformers import AutoTokenizer

    from rlfb.models.tiny import make_tiny_model

    path = make_tiny_model(tmp_path / "tiny", hidden_size=32, num_layers=1, num_heads=2)
    text = "What is 12 + 30? The answer is 42."
    n = len(AutoTokenizer.from_pretrained(path)(text, add_special_tokens=False)["input_ids"])
    reward = ShapingReward("length_penalty", tokenizer=str(path), free_length=0, coef=0.5)
    result = reward.score(text, None)
    assert result.info["length"] == n
    assert result.value == pytest.approx(-0.5 * n, abs=1e-12)


def test_shaping_reward_errors():
    with pytest.raises(ConfigError, match="unknown shaping fn"):
        ShapingReward("overlong", unit="words")
    with pytest.raises(ConfigError, match="counts tokens"):
        ShapingReward("soft_overlong", max_length=10, cache_length=2)
    with pytest.raises(ConfigError, match="no option 'cache'"):
        ShapingReward("soft_overlong", unit="words", max_length=10, cache=2)
    with pytest.raises(ConfigError, match="bad options"):
        ShapingReward("soft_overlong", unit="words", max_length=10, cache_length=20)
    with pytest.raises(ConfigError, match="unit"):
        ShapingReward("repetition", unit="bytes")
