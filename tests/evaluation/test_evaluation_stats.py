"""The statistics behind `rlfb eval` and `rlfb rescore`, against values computed by hand."""

from __future__ import annotations

import doctest
import math

import pytest

from rlfb.evaluation import stats
from rlfb.evaluation.reward_spec import reward_spec
from rlfb.errors import ConfigError


def test_doctests():
    assert doctest.testmod(stats).failed == 0


def test_spearman_with_ties_is_pearson_of_average_ranks():
    # x ranks: 1, 2.5, 2.5, 4 ; y ranks: 2, 1, 3, 4 ; deviations from 2.5:
    # x (-1.5, 0, 0, 1.5), y (-0.5, -1.5, 0.5, 1.5): Sxy = 0.75 + 2.25 = 3, Sxx = 4.5, Syy = 5
    assert stats.spearman([1, 2, 2, 3], [20, 10, 30, 40]) == pytest.approx(
        3 / math.sqrt(4.5 * 5), rel=1e-12)
    assert stats.spearman([1, 1, 1], [1, 2, 3]) is None  # a constant side has no ranking
    assert stats.spearman([1, None, 3], [1, 2, None]) is None  # one complete pair


def test_pass_at_k_uses_only_judged_samples():
    # prompt 1: 4 judged, 1 correct; prompt 2: 3 judged (one failure), 2 correct
    per_prompt = [[True, False, False, False], [True, None, True, False]]
    r = stats.pass_at_k_judged(per_prompt, [1, 2, 4])
    assert r[1]["value"] == pytest.approx((1 / 4 + 2 / 3) / 2, rel=1e-12)
    # pass@2: 1 - C(3,2)/C(4,2) = 1 - 3/6 ; 1 - C(1,2)/C(3,2) = 1
    assert r[2]["value"] == pytest.approx((0.5 + 1.0) / 2, rel=1e-12)
    assert r[4] == {"value": 1.0, "prompts": 1, "excluded": 1}


def test_distribution_quantiles_interpolate():
    d = stats.distribution([0.0, 1.0, 2.0, 3.0, 4.0, None])
    assert (d["n"], d["masked"], d["q25"], d["q50"], d["q95"]) == (5, 1, 1.0, 2.0, 3.8)
    assert d["std"] == pytest.approx(math.sqrt(2.0), rel=1e-12)
    assert stats.distribution([None])["mean"] is None


def test_reward_spec_from_yaml(tmp_path):
    f = tmp_path / "r.yaml"
    f.write_text("reward: {name: hedging, options: {verifier: math}}\nrun: {steps: 3}\n")
    spec = reward_spec(str(f), {"detector": "phrases"})
    assert spec.name == "hedging" and spec.options == {"verifier": "math", "detector": "phrases"}
    (tmp_path / "bad.yaml").write_text("name: hedging\noption: {}\n")
    with pytest.raises(ConfigError, match="unknown keys"):
        reward_spec(str(tmp_path / "bad.yaml"))
