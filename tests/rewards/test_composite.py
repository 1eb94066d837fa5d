"""The `composite` reward: weighted sums, gates, masking, group normalisation, clipping."""

from __future__ import annotations

import math

import pytest

from rlfb.errors import ConfigError, RegistryError, RlfbError
from rlfb.rewards import get_reward
from rlfb.rewards.composite import standardize
from rlfb.rewards.hedging.metrics import hedging_metrics, records_from_results
from rlfb.verifiers import Verdict, Verifier, VerifyStatus, register_verifier


@register_verifier("test_composite_exact")
class Exact(Verifier):
    """CORRECT when the text inside <answer></answer> (or the whole text) equals the reference;
    the reference "timeout" simulates a judge failure."""

    version = "1"

    def judge(self, completion, reference):
        if reference == "timeout":
            return Verdict(VerifyStatus.TIMEOUT)
        answer = completion.split("<answer>")[-1].split("</answer>")[0].strip()
        answer = answer.split()[-1].strip(".") if answer.split() else ""
        return Verdict(VerifyStatus.CORRECT if answer == reference else VerifyStatus.WRONG)


def tagged(answer: str) -> str:
    return f"<think>x</think><answer>{answer}</answer>"


FORMAT_GATE = {"name": "format", "kind": "verifier", "weight": 0.5, "gate": True}
CORRECT = {"name": "correct", "kind": "verifier", "verifier": "test_composite_exact",
           "weight": 2.0}


def test_weighted_sum_by_hand():
    r = get_reward("composite", components=[FORMAT_GATE, CORRECT])
    # format 1 * 0.5 + correct 1 * 2 = 2.5; wrong: 0.5 + 0 = 0.5
    assert r.score(tagged("7"), "7").value == pytest.approx(2.5, abs=1e-12)
    assert r.score(tagged("8"), "7").value == pytest.approx(0.5, abs=1e-12)


def test_failing_gate_sets_gate_value_and_reports_every_component():
    r = get_reward("composite", components=[FORMAT_GATE, CORRECT], gate_value=-1.0)
    result = r.score("7", "7")  # no tags: format fails, although the answer is right
    assert result.value == -1.0
    assert result.components == {"format": 0.0, "correct": 1.0}
    assert result.info["gated_by"] == ["format"]
    assert set(result.verify_results) == {"format", "correct"}
    assert result.verify_results["format"].status is VerifyStatus.WRONG


def test_gate_threshold():
    shaped = {"name": "len", "kind": "shaping", "fn": "length_penalty", "gate": True,
              "gate_threshold": -0.5, "options": {"unit": "words", "max_length": 4}}
    r = get_reward("composite", components=[shaped, CORRECT], gate_value=-3.0)
    # 1 word: -0.25 >= -0.5 passes: -0.25 + 2 = 1.75; 3 words: -0.75 < -0.5 gated
    assert r.score("7", "7").value == pytest.approx(1.75, abs=1e-12)
    assert r.score("it is 7", "7").value == -3.0


def test_masking_rules():
    r = get_reward("composite", components=[FORMAT_GATE, CORRECT], gate_value=-1.0)
    masked = r.score(tagged("7"), "timeout")
    assert masked.value is None and masked.components["correct"] is None
    # a failing gate decides alone: the masked part does not mask it
    assert r.score("7", "timeout").value == -1.0
    gate_masked = get_reward("composite", components=[
        {"name": "gate", "kind": "verifier", "verifier": "test_composite_exact", "gate": True},
        {"name": "format", "kind": "verifier"}])
    assert gate_masked.score(tagged("7"), "timeout").value is None


def test_nested_reward_parts_are_reported():
    hedging = {"name": "hedge", "kind": "reward", "reward": "hedging",
               "options": {"verifier": "test_composite_exact"}}
    r = get_reward("composite", components=[FORMAT_GATE, hedging], gate_value=-4.0)
    result = r.score(tagged("I think 7"), "7")
    assert result.value == pytest.approx(0.5 + 0.5, abs=1e-12)
    assert result.components == {"format": 1.0, "hedge": 0.5, "hedge/correct": 1.0,
                                 "hedge/payoff": 0.5}
    assert result.info["parts"]["hedge"]["hedge_class"] == "hedged"
    records = records_from_results([result, r.score(tagged("8"), "7")])
    assert hedging_metrics(records)["wrong_unhedged_rate"] == 0.5


def test_group_normalize_then_sum_by_hand():
    r = get_reward("composite", normalize="group", eps=0.0, components=[
        {"name": "a", "kind": "verifier", "verifier": "test_composite_exact", "weight": 1.0},
        {"name": "len", "kind": "shaping", "fn": "length_penalty", "weight": 1.0,
         "options": {"unit": "words", "coef": 1.0}}])
    completions = ["7", "x x 7", "8", "7", "7"]
    groups = ["g", "g", "g", "h", "h"]
    out = r.score_batch(completions, ["7"] * 5, groups)
    # group g: a = [1, 1, 0] -> mean 2/3, std sqrt(2)/3 -> [1/sqrt2, 1/sqrt2, -sqrt2]
    #          len = [-1, -3, -1] -> mean -5/3, std sqrt(8)/3 -> [1/sqrt2, -sqrt2, 1/sqrt2]
    s2 = math.sqrt(2)
    expected_g = [1 / s2 + 1 / s2, 1 / s2 - s2, -s2 + 1 / s2]
    assert [o.value for o in out[:3]] == pytest.approx(expected_g, abs=1e-12)
    # group h: identical samples -> zero variance -> 0
    assert [o.value for o in out[3:]] == [0.0, 0.0]
    assert out[0].info["normalized"]["a"] == pytest.approx(1 / s2, abs=1e-12)
    assert out[0].components["a"] == 1.0  # raw value still reported


def test_group_after_sum_by_hand():
    r = get_reward("composite", normalize="group_after_sum", eps=0.0, gate_value=-1.0,
                   components=[FORMAT_GATE, CORRECT])
    completions = [tagged("7"), tagged("8"), "7", tagged("7")]
    out = r.score_batch(completions, ["7", "7", "7", "timeout"], [0, 0, 0, 0])
    # raw totals: 2.5, 0.5, gate -1.0, masked -> mean 2/3; std sqrt(((11/6)^2+(1/6)^2+(5/3)^2)/3)
    raw = [2.5, 0.5, -1.0]
    mean = sum(raw) / 3
    std = math.sqrt(sum((x - mean) ** 2 for x in raw) / 3)
    assert [o.value for o in out[:3]] == pytest.approx([(x - mean) / std for x in raw], abs=1e-12)
    assert out[3].value is None


def test_group_mean_only():
    r = get_reward("composite", normalize="group", normalize_std=False, components=[CORRECT])
    out = r.score_batch(["7", "8", "8", "8"], ["7"] * 4, ["g"] * 4)
    # 2 * (x - 0.25)
    assert [o.value for o in out] == pytest.approx([1.5, -0.5, -0.5, -0.5], abs=1e-12)


def test_clip_applies_to_the_weighted_sum():
    r = get_reward("composite", components=[FORMAT_GATE, CORRECT], clip=[None, 1.0],
                   gate_value=-5.0)
    assert r.score(tagged("7"), "7").value == 1.0
    assert r.score("7", "7").value == -5.0  # gate_value is not clipped


def test_standardize_skips_masked_values():
    assert standardize([2.0, None, 4.0], [1, 1, 1], eps=0.0) == [-1.0, None, 1.0]


def test_group_modes_need_groups():
    r = get_reward("composite", normalize="group", components=[CORRECT])
    with pytest.raises(RlfbError, match="needs a group"):
        r.score("7", "7")
    with pytest.raises(RlfbError, match="needs group_ids"):
        r.score_batch(["7"], ["7"])


@pytest.mark.parametrize("components, message", [
    ([], "non-empty list"),
    ([{"kind": "verifier"}], "needs a 'name'"),
    ([{"name": "a", "kind": "judge"}], "kind 'judge'"),
    ([{"name": "a", "kind": "verifier", "wieght": 2}], "did you mean 'weight'"),
    ([{"name": "a", "kind": "verifier", "fn": "x"}], "has no key 'fn'"),
    ([{"name": "a", "kind": "verifier", "weight": "heavy"}], "weight must be a number"),
    ([{"name": "a", "kind": "verifier", "gate": "yes"}], "gate must be true or false"),
    ([{"name": "format", "kind": "verifier"}, {"name": "format", "kind": "verifier"}],
     "used twice"),
])
def test_bad_specs_are_clear_errors(components, message):
    with pytest.raises(ConfigError, match=message):
        get_reward("composite", components=components)


def test_bad_options_are_clear_errors():
    with pytest.raises(ConfigError, match="normalize 'groups'"):
        get_reward("composite", components=[CORRECT], normalize="groups")
    with pytest.raises(ConfigError, match="clip bounds reversed"):
        get_reward("composite", components=[CORRECT], clip=[1.0, -1.0])
    with pytest.raises(RegistryError, match="unknown verifier 'fromat'"):
        get_reward("composite", components=[{"name": "fromat", "kind": "verifier"}])


def test_reference_key_hands_each_component_its_part():
    r = get_reward("composite", components=[
        {**CORRECT, "reference_key": "answer"},
        {"name": "len", "kind": "shaping", "fn": "length_penalty",
         "options": {"unit": "words", "coef": 0.1}}])
    ref = {"prompt": "What is 3 + 4?", "answer": "7"}
    assert r.score("7", ref).value == pytest.approx(2.0 - 0.1, abs=1e-12)
    with pytest.raises(RlfbError, match=r"reads reference\['answer'\].*keys \['prompt'\]"):
        r.score("7", {"prompt": "What is 3 + 4?"})
    with pytest.raises(ConfigError, match="reference_key must be a string"):
        get_reward("composite", components=[{**CORRECT, "reference_key": 3}])
