"""Question-level ablation reports on hand-made numbers: the paired two-way bootstrap, the
per-tier tables, the question-level differences and the declared criterion, each checked
against values counted by hand."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from rlfb.ablate.questions import compare, parse_report_spec, question_values
from rlfb.ablate.stats import bootstrap_means, percentile_interval
from rlfb.errors import ConfigError


def test_bootstrap_of_a_constant_grid_is_that_constant():
    means = bootstrap_means([[0.25, 0.25, 0.25], [0.25, 0.25, 0.25]], replicates=500)
    assert len(means) == 500 and set(means) == {0.25}
    assert percentile_interval(means) == (0.25, 0.25)


def test_bootstrap_resamples_questions_with_replacement():
    # One seed, two questions with differences 0 and 1: the drawn pair is {0,0}, {0,1} or
    # {1,1} with probabilities 1/4, 1/2, 1/4, so the replicate mean is 0, 0.5 or 1.
    means = bootstrap_means([[0.0, 1.0]], replicates=4000, seed=3)
    freq = {v: c / len(means) for v, c in Counter(means).items()}
    assert set(freq) == {0.0, 0.5, 1.0}
    assert freq[0.5] == pytest.approx(0.5, abs=0.03)
    assert freq[0.0] == pytest.approx(0.25, abs=0.03)
    assert percentile_interval(means) == (0.0, 1.0)
    # one question, two seeds: the seeds are resampled the same way
    seeds = Counter(bootstrap_means([[0.0], [1.0]], replicates=4000, seed=4))
    assert seeds[0.5] / 4000 == pytest.approx(0.5, abs=0.03)


def test_bootstrap_resamples_seeds_and_questions_independently_and_skips_missing_cells():
    # Cells (seed 0, q0) = 1 and (seed 1, q1) = 3; the others are missing. Seeds and questions
    # are each drawn twice: cell 00 alone is in the grid with probability 5/16 (mean 1), cell
    # 11 alone 5/16 (mean 3), both 4/16 (mean 2), neither 2/16 (replicate dropped). So the
    # kept replicates are 1, 2, 3 with probabilities 5/14, 4/14, 5/14.
    means = bootstrap_means([[1.0, None], [None, 3.0]], replicates=8000, seed=5)
    assert len(means) == pytest.approx(8000 * 14 / 16, rel=0.03)
    freq = Counter(means)
    assert set(freq) == {1.0, 2.0, 3.0}
    assert freq[2.0] / len(means) == pytest.approx(4 / 14, abs=0.03)
    assert freq[1.0] / len(means) == pytest.approx(5 / 14, abs=0.03)


def test_bootstrap_refuses_a_ragged_grid():
    with pytest.raises(ValueError, match="grid"):
        bootstrap_means([[1.0, 2.0], [1.0]])


def test_compare_pairs_by_seed_and_question():
    treatment = {0: {"q1": 1.0, "q2": 0.0}, 1: {"q1": 1.0, "q2": 1.0}, 2: {"q1": 1.0}}
    control = {0: {"q1": 0.0, "q2": 0.0}, 1: {"q1": 1.0, "q2": 1.0}}
    c = compare(treatment, control, replicates=2000)
    assert c.per_seed == {0: 0.5, 1: 0.0}  # seed 2 has no control: left out
    assert c.mean == 0.25 and c.questions == 2
    assert c.t_half_width == pytest.approx(12.7062 * 0.25, rel=1e-4)  # t_{.975,1}·s/√2
    # grid [[1, 0], [0, 0]]: drawing seed 0 twice and q1 twice (p = 1/16 > 2.5%) gives 1,
    # and any draw without that cell gives 0 (p > 2.5%)
    assert c.bootstrap == (0.0, 1.0)


RECORDS = {  # (arm, seed) -> {question: (completion, correct, hedge class)}, at the final step
    ("hedging", 0): {"e1": ("<answer>5</answer>", True, "unhedged"),
                     "e2": ("<answer>5</answer>", True, "unhedged"),
                     "m1": ("I don't know.", False, "uninformative"),
                     "h1": ("I think it is <answer>7</answer>.", False, "hedged")},
    ("hedging", 1): {"e1": ("<answer>5</answer>", True, "unhedged"),
                     "e2": ("<answer>6</answer>", False, "unhedged"),
                     "m1": ("I don't know.", False, "uninformative"),
                     "h1": ("I don't know.", False, "uninformative")},
    ("binary", 0): {"e1": ("<answer>5</answer>", True, "unhedged"),
                    "e2": ("<answer>5</answer>", True, "unhedged"),
                    "m1": ("<answer>7</answer>", False, "unhedged"),
                    "h1": ("<answer>8</answer>", False, "unhedged")},
    ("binary", 1): {"e1": ("<answer>5</answer>", True, "unhedged"),
                    "e2": ("<answer>5</answer>", True, "unhedged"),
                    "m1": ("<answer>5</answer>", True, "unhedged"),
                    "h1": ("<answer>9</answer>", False, "unhedged")},
}
TIER = {"e1": "easy", "e2": "easy", "m1": "medium", "h1": "hard"}
EASY_ACCURACY = {("hedging", 0): 1.0, ("hedging", 1): 0.5, ("binary", 0): 1.0,
                 ("binary", 1): 1.0}


def _write_runs(root: Path) -> None:
    for (arm, seed), questions in RECORDS.items():
        run = root / f"payoff={arm}" / f"seed={seed}"
        run.mkdir(parents=True)
        rows = []
        for step in (0, 2):  # step 0 says everything is wrong: only the final step counts
            for qid, (text, ok, cls) in questions.items():
                rows.append({"step": step, "prompt_id": qid, "fields": {"tier": TIER[qid]},
                             "reference": "5", "completion": text if step else "x",
                             "correct": ok if step else False,
                             "hedge_class": cls if step else "unhedged", "reward": 0.0})
        (run / "eval_samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        metrics = [{"step": 0, "eval/accuracy": 0.0, "eval/tier=easy/accuracy": 0.0},
                   {"step": 2, "eval/accuracy": 0.5,
                    "eval/tier=easy/accuracy": EASY_ACCURACY[arm, seed],
                    "eval/tier=easy/n": 2}]
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in metrics))


def _sweep(root: Path, criterion: bool = True):
    from rlfb.ablate.sweep import parse_sweep

    report = {"group_by": "tier", "score_with": {"name": "hedging",
                                                 "options": {"verifier": "math"}},
              "replicates": 2000}
    if criterion:
        report["criterion"] = {"treatment": "payoff=hedging", "control": "payoff=binary",
                               "conditions": [
            {"measure": "wrong_unhedged", "groups": ["medium", "hard"], "rule": "each_seed",
             "at_most": -0.2},
            {"measure": "accuracy", "groups": ["easy"], "rule": "mean", "above": -0.1},
            {"measure": "payoff", "rule": "bootstrap", "above": 0}]}
    return parse_sweep({"name": "hand", "base": {"eval": {"group_by": ["tier"]}},
                        "output_dir": str(root), "seeds": [0, 1],
                        "axes": {"payoff": {"hedging": {"reward.name": "hedging"},
                                            "binary": {"reward.name": "verifier"}}},
                        "report": report})


def _row(lines: list[str], *cells: str) -> list[str]:
    found = [[c.strip() for c in line.strip("|").split("|")] for line in lines
             if line.startswith("|")]
    matches = [r for r in found if r[:len(cells)] == list(cells)]
    assert len(matches) == 1, (cells, found)
    return matches[0]


def test_report_has_tier_tables_question_differences_and_the_criterion(tmp_path):
    from rlfb.ablate.report import write_sweep_report

    _write_runs(tmp_path)
    sweep = _sweep(tmp_path)
    lines = write_sweep_report(sweep, sweep.arms()).read_text().splitlines()
    # per tier, final values: easy accuracy of the hedging arm is mean(1.0, 0.5) = 0.75 with
    # t_{.975,1} · 0.3536/√2 = 3.177
    assert _row(lines, "`payoff=hedging`", "easy")[2:4] == ["2", "0.750 ± 3.177"]
    assert _row(lines, "`payoff=binary`", "easy")[3] == "1.000 ± 0.000"
    # wrong-unhedged on medium: hedging 0, 0; binary 1 (seed 0), 0 (seed 1) → Δ −1, 0
    row = _row(lines, "`payoff=hedging`", "wrong_unhedged", "medium")
    assert row[5] == "-1.000, +0.000" and row[3].startswith("-0.500 ± ")
    # payoff by Schulman's table: hedging 1+1+0−2 = 0 and 1−4+0+0 = −3 (means 0, −0.75);
    # binary 1+1−4−4 = −6 and 1+1+1−4 = −1 (means −1.5, −0.25) → Δ +1.5 and −0.5
    row = _row(lines, "`payoff=hedging`", "payoff", "all")
    assert row[5] == "+1.500, -0.500" and row[3].startswith("+0.500 ± ") and row[6] == "2 × 4"
    low, high = (float(x) for x in row[4].strip("[]").split(","))
    assert low < 0 < high
    text = "\n".join(lines)
    # condition 1: medium+hard wrong-unhedged Δ = (0 − 1) and (0 − 0.5) per seed: met
    assert "seed 0: -1.000, seed 1: -0.500 | met" in text
    # condition 2: easy accuracy Δ = 0 and −0.5, mean −0.25, not above −0.1: not met
    assert "mean -0.250 | **not met**" in text
    # condition 3: the payoff interval contains 0: not met
    assert _row(lines, "`payoff` [all questions], whole 95% bootstrap interval: Δ > 0")[2] \
        == "**not met**"
    assert "**Verdict: the data do not meet the criterion.**" in text


def test_report_without_a_criterion_has_no_verdict(tmp_path):
    from rlfb.ablate.report import write_sweep_report

    _write_runs(tmp_path)
    sweep = _sweep(tmp_path, criterion=False)
    text = write_sweep_report(sweep, sweep.arms()).read_text()
    assert "Verdict" not in text and "paired bootstrap 95%" in text


def test_question_values_average_samples_and_filter_groups():
    records = [{"prompt_id": "a", "fields": {"tier": "easy"}, "correct": True},
               {"prompt_id": "a", "fields": {"tier": "easy"}, "correct": False},
               {"prompt_id": "b", "fields": {"tier": "hard"}, "correct": None},
               {"prompt_id": "c", "fields": {"tier": "hard"}, "correct": False}]
    assert question_values(records, "accuracy") == {"a": 0.5, "c": 0.0}
    assert question_values(records, "accuracy", None, "tier", ["hard"]) == {"c": 0.0}
    assert question_values(records, "hedged") == {}  # no hedge class: no value


@pytest.mark.parametrize("report,message", [
    ({"criterion": {"treatment": "a", "control": "b", "conditions": [
        {"measure": "payoff", "rule": "mean", "above": 0}]}}, "set report.score_with"),
    ({"criterion": {"treatment": "a", "control": "b", "conditions": [
        {"measure": "accuracy", "rule": "mean", "above": 0, "below": 1}]}}, "exactly one bound"),
    ({"criterion": {"treatment": "a", "control": "b", "conditions": [
        {"measure": "accuracy", "rule": "median", "above": 0}]}}, "rule must be one of"),
    ({"criterion": {"treatment": "a", "control": "b", "conditions": [
        {"measure": "accuracy", "rule": "mean", "above": 0, "groups": ["easy"]}]}},
     "set report.group_by"),
    ({"replicates": 0}, "replicates must be"),
    ({"colour": "red"}, "unknown key"),
])
def test_bad_report_sections_are_one_line_errors(report, message):
    with pytest.raises(ConfigError, match=message) as err:
        parse_report_spec("s.yaml", report)
    assert "\n" not in str(err.value) and str(err.value).startswith("sweep s.yaml: report:")
