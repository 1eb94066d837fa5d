"""The `hedging` reward: the payoff table on clear cases, masking, proper scoring, metrics."""

from __future__ import annotations

import math
import re

import pytest

from rlfb.errors import ConfigError, RegistryError
from rlfb.rewards import get_reward
from rlfb.rewards.hedging.metrics import hedging_metrics, records_from_results
from rlfb.rewards.hedging.reward import DEFAULT_PAYOFFS, payoff_table
from rlfb.verifiers import Verdict, Verifier, VerifyStatus, register_verifier


@register_verifier("test_last_number")
class LastNumber(Verifier):
    """CORRECT when the last integer in the completion equals the reference; UNPARSEABLE when
    there is none; the reference "timeout"/"boom" simulates a judge failure."""

    version = "1"

    def judge(self, completion, reference):
        if reference == "timeout":
            return Verdict(VerifyStatus.TIMEOUT)
        if reference == "boom":
            raise RuntimeError("judge crashed")
        numbers = re.findall(r"-?\d+", completion)
        if not numbers:
            return Verdict(VerifyStatus.UNPARSEABLE)
        ok = numbers[-1] == str(reference)
        return Verdict(VerifyStatus.CORRECT if ok else VerifyStatus.WRONG, extracted=numbers[-1])


@pytest.fixture(scope="module")
def reward():
    return get_reward("hedging", verifier="test_last_number")


@pytest.mark.parametrize("completion, reference, expected, hedge_class", [
    ("The answer is 7.", "7", 1.0, "unhedged"),
    ("I think the answer is 7.", "7", 0.5, "hedged"),
    ("I don't know.", "7", 0.0, "uninformative"),
    ("I think the answer is 8.", "7", -2.0, "hedged"),
    ("The answer is 8.", "7", -4.0, "unhedged"),
    ("No doubt, the answer is 8.", "7", -4.0, "unhedged"),
    ("The most likely sum is 7.", "7", 1.0, "unhedged"),
    ("I'm not sure, but it's probably 8.", "7", -2.0, "hedged"),
    ("I don't know, my best guess is 7.", "7", 0.5, "hedged"),
])
def test_schulman_table_on_clear_cases(reward, completion, reference, expected, hedge_class):
    result = reward.score(completion, reference)
    assert result.value == expected
    assert result.info["hedge_class"] == hedge_class
    assert result.components["payoff"] == expected
    assert result.info["scoring"] == "table"
    assert "test_last_number" in result.verify_results


def test_components_and_evidence_are_reported(reward):
    result = reward.score("I believe it's 7.", "7")
    assert result.components == {"correct": 1.0, "payoff": 0.5}
    assert result.info["correct"] is True
    assert "guess: I believe" in result.info["hedge_evidence"]
    assert result.verify_results["test_last_number"].status is VerifyStatus.CORRECT


@pytest.mark.parametrize("reference, status", [("timeout", "timeout"), ("boom", "error")])
def test_judge_failure_masks_never_zero(reward, reference, status):
    result = reward.score("I don't know.", reference)
    assert result.value is None and result.masked
    assert result.components == {"correct": None, "payoff": None}
    assert result.info["scoring"] == "masked"
    assert result.verify_results["test_last_number"].status.value == status


def test_hedged_unparseable_is_uninformative_by_default(reward):
    result = reward.score("I'm not sure, but it is around seven.", "7")
    assert result.value == 0.0
    assert result.info["hedge_class"] == "uninformative"
    strict = get_reward("hedging", verifier="test_last_number", hedged_unparseable="wrong")
    assert strict.score("I'm not sure, but it is around seven.", "7").value == -2.0


def test_unhedged_unparseable_is_an_unhedged_wrong_answer(reward):
    assert reward.score("It is seven.", "7").value == -4.0


def test_payoff_overrides_replace_only_the_given_cells():
    custom = get_reward("hedging", verifier="test_last_number",
                        payoffs={"uninformative": {"correct": 1.0}, "unhedged": {"wrong": -10}})
    assert custom.score("The answer cannot be determined: 0", "0").value == 1.0
    assert custom.score("The answer is 3.", "4").value == -10.0
    assert custom.score("The answer is 4.", "4").value == 1.0
    assert custom.score("Probably 4.", "4").value == 0.5


def test_payoff_table_validation():
    assert payoff_table() == DEFAULT_PAYOFFS
    with pytest.raises(ConfigError, match="did you mean 'hedged'"):
        payoff_table({"hedge": {"correct": 1.0}})
    with pytest.raises(ConfigError, match="did you mean 'wrong'"):
        payoff_table({"hedged": {"wrng": 1.0}})
    with pytest.raises(ConfigError, match="must be a number"):
        payoff_table({"hedged": {"wrong": "a lot"}})
    with pytest.raises(ConfigError, match="must map"):
        payoff_table({"hedged": 3})


def test_log_scoring_applies_to_stated_confidence():
    reward = get_reward("hedging", verifier="test_last_number", confidence_scoring="log")
    right = reward.score("Confidence: 80%. The answer is 7.", "7")
    wrong = reward.score("Confidence: 80%. The answer is 8.", "7")
    assert right.value == pytest.approx(math.log(0.8), rel=1e-12)
    assert wrong.value == pytest.approx(math.log(0.2), rel=1e-12)
    assert right.info["scoring"] == "log" and right.info["stated_confidence"] == 0.8
    # no stated confidence: the table
    assert reward.score("The answer is 7.", "7").value == 1.0


def test_brier_scoring_with_scale_and_form():
    reward = get_reward("hedging", verifier="test_last_number", confidence_scoring="brier",
                        confidence_scale=2.0, brier_form="one_minus")
    # y = 0, p = 0.9: 2 * (1 - 0.81) = 0.38
    assert reward.score("(90% confident) It is 8.", "7").value == pytest.approx(0.38, abs=1e-12)


def test_stated_confidence_without_proper_scoring_is_a_hedge(reward):
    assert reward.score("Confidence: 70%. The answer is 7.", "7").value == 0.5


def test_score_batch_matches_score(reward):
    completions = ["The answer is 7.", "Maybe 8.", "I have no idea.", "It is 3."]
    references = ["7", "7", "7", "timeout"]
    batch = reward.score_batch(completions, references, group_ids=["a", "a", "a", "b"])
    single = [reward.score(c, r) for c, r in zip(completions, references)]
    assert [r.value for r in batch] == [r.value for r in single] == [1.0, -2.0, 0.0, None]
    with pytest.raises(ValueError, match="2 completions and 1 references"):
        reward.score_batch(["a", "b"], ["7"])


def test_metrics_from_results(reward):
    completions = ["The answer is 7.", "The answer is 8.", "Probably 7.", "Probably 9.",
                   "I don't know.", "Confidence: 90%. It is 7.", "It is 1."]
    references = ["7", "7", "7", "7", "7", "7", "timeout"]
    metrics = hedging_metrics(records_from_results(reward.score_batch(completions, references)))
    # judged: 6 (one timeout). unhedged: 7 (right), 8 (wrong). hedged: 7, 9, "7 conf 90%".
    assert metrics["n"] == 6 and metrics["n_masked"] == 1
    assert metrics["hedge_rate"] == pytest.approx(3 / 6, rel=1e-12)
    assert metrics["abstention_rate"] == pytest.approx(1 / 6, rel=1e-12)
    assert metrics["accuracy_of_answered"] == pytest.approx(3 / 5, rel=1e-12)
    assert metrics["wrong_unhedged_rate"] == pytest.approx(1 / 6, rel=1e-12)
    assert metrics["ece"] == pytest.approx(0.1, abs=1e-12)  # one record: p = 0.9, right


def test_bad_options_are_clear_errors():
    with pytest.raises(ConfigError, match="confidence_scoring 'hinge'"):
        get_reward("hedging", verifier="test_last_number", confidence_scoring="hinge")
    with pytest.raises(RegistryError, match="did you mean 'test_last_number'"):
        get_reward("hedging", verifier="test_last_numbr")
    with pytest.raises(RegistryError, match="unknown hedge detector"):
        get_reward("hedging", verifier="test_last_number", detector="keywords")
    with pytest.raises(RegistryError, match="did you mean 'payoffs'"):
        get_reward("hedging", verifier="test_last_number", payoff={})


@pytest.fixture(scope="module")
def math_reward():
    return get_reward("hedging")  # the default verifier is "math"


@pytest.mark.parametrize("completion, reference, expected, hedge_class", [
    ("3 + 4 = 7, so the answer is \\boxed{7}.", "7", 1.0, "unhedged"),
    ("I think the answer is \\boxed{7}.", "7", 0.5, "hedged"),
    ("I don't know.", "7", 0.0, "uninformative"),
    ("It's probably \\boxed{8}.", "7", -2.0, "hedged"),
    ("The answer is \\boxed{8}.", "7", -4.0, "unhedged"),
    ("I'm not sure, but I'd say \\boxed{\\frac{1}{2}}.", "0.5", 0.5, "hedged"),
    ("Rolling two dice, the most likely sum is \\boxed{7}.", "7", 1.0, "unhedged"),
    ("Without a doubt, x = \\boxed{-3}.", "-3", 1.0, "unhedged"),
    ("I'm not sure, but it is around seven.", "7", 0.0, "uninformative"),
])
def test_schulman_table_with_the_math_verifier(math_reward, completion, reference, expected,
                                               hedge_class):
    result = math_reward.score(completion, reference)
    assert result.value == expected
    assert result.info["hedge_class"] == hedge_class
    assert "math" in result.verify_results


def test_math_log_scoring():
    reward = get_reward("hedging", confidence_scoring="log", log_eps=0.01)
    result = reward.score("Confidence: 100%. The answer is \\boxed{5}.", "7")
    assert result.value == pytest.approx(math.log(0.01), rel=1e-12)  # certain and wrong


def test_a_failing_detector_masks_the_sample():
    from rlfb.rewards.hedging.detect import (
        HedgeClass,
        HedgeDetection,
        HedgeDetector,
        register_hedge_detector,
    )

    @register_hedge_detector("test_fragile")
    class Fragile(HedgeDetector):
        def detect(self, text):
            if "crash" in text:
                raise RuntimeError("classifier out of memory")
            return HedgeDetection(HedgeClass.UNHEDGED)

    reward = get_reward("hedging", verifier="test_last_number", detector="test_fragile")
    results = reward.score_batch(["It is 7.", "crash 7"], ["7", "7"])
    assert results[0].value == 1.0
    assert results[1].value is None and results[1].info["scoring"] == "masked"
    assert "out of memory" in results[1].info["hedge_error"]
    assert reward.score("crash", "7").value is None
    assert hedging_metrics(records_from_results(results))["n_masked"] == 1
