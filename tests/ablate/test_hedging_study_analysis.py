"""experiments/hedging_study/analyse.py on hand-made eval completions: every measure of the
study (payoff, accuracies, hedge rates, AUROC, gaming checks, cues) against hand counts."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from rlfb.rewards.hedging.metrics import auroc, hedge_auroc

REPO = Path(__file__).resolve().parents[2]

# (tier, completion, verifier status): reference is always "12"
FINAL = [
    ("easy", "<answer>12</answer>", "correct"),                      # unhedged right: +1
    ("easy", "<answer>13</answer>", "wrong"),                        # unhedged wrong: −4
    ("medium", "I think it is <answer>12</answer>.", "correct"),     # hedged right: +0.5
    ("medium", "I think it is around five hundred.", "unparseable"),  # hedged, no answer: 0
    ("hard", "I don't know.", "unparseable"),                        # abstains: 0
    ("hard", "<answer>none</answer> I don't know.", "wrong"),        # abstains with an answer: 0
]


def _load():
    spec = importlib.util.spec_from_file_location(
        "analyse", REPO / "experiments" / "hedging_study" / "analyse.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write(root: Path) -> None:
    run = root / "payoff=hedging" / "seed=0"
    run.mkdir(parents=True)
    rows = []
    for step in (0, 4):
        for i, (tier, text, status) in enumerate(FINAL):
            rows.append({"step": step, "prompt_id": f"q{i}", "fields": {"tier": tier},
                         "reference": "12", "completion": text if step else "<answer>12</answer>",
                         "status": status if step else "correct",
                         "correct": status == "correct" if step else True})
    (run / "eval_samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_measures_match_hand_counts(tmp_path):
    analyse = _load()
    _write(tmp_path)
    result = analyse.analyse(tmp_path)
    final = result["per_seed"]["final"]["payoff=hedging"][0]
    m = final["all"]
    assert m["n"] == 6
    assert m["payoff"] == pytest.approx((1 - 4 + 0.5 + 0 + 0 + 0) / 6)
    assert m["accuracy"] == pytest.approx(2 / 6)
    assert m["accuracy_of_answered"] == pytest.approx(2 / 4)  # answered: 2 unhedged, 2 hedged
    assert (m["hedge_rate"], m["abstention_rate"]) == (pytest.approx(2 / 6), pytest.approx(2 / 6))
    assert m["wrong_unhedged_rate"] == pytest.approx(1 / 6)
    # wrong: q1 (unhedged), q3 (hedged), q4, q5 (abstain) → signal 0, 1, 1, 1;
    # right: q0 (unhedged), q2 (hedged) → 0, 1. Pairs: 3·(1 + 0.5) + (0.5 + 0) = 5 of 8.
    assert m["hedge_auroc"] == pytest.approx(5 / 8)
    assert m["abstain_with_answer_rate"] == pytest.approx(1 / 6)
    assert m["hedged_unparseable_rate"] == pytest.approx(1 / 6)
    assert final["hard"]["abstention_rate"] == 1.0 and final["hard"]["hedge_auroc"] is None
    assert final["medium+hard"]["wrong_unhedged_rate"] == 0.0
    assert final["easy"]["payoff"] == pytest.approx(-1.5)
    warm = result["per_seed"]["warm_start"]["payoff=hedging"][0]["all"]
    assert warm["accuracy"] == 1.0 and warm["payoff"] == 1.0
    cues = dict(result["cues"]["payoff=hedging"])
    assert cues["abstain: i don't know"] == 2 and cues["guess: i think"] == 2


def test_main_writes_tables_and_plot(tmp_path):
    analyse = _load()
    _write(tmp_path / "sweep")
    assert analyse.main([str(tmp_path / "sweep"), "--out", str(tmp_path / "out")]) == 0
    text = (tmp_path / "out" / "measures.md").read_text()
    assert "| `payoff=hedging` | 0 | hard |" in text
    assert (tmp_path / "out" / "tiers.png").stat().st_size > 1000


def test_auroc_counts_ties_as_one_half():
    assert auroc([0.9, 0.1], [True, False]) == 1.0
    assert auroc([0.5, 0.5], [True, False]) == 0.5
    assert auroc([1, 0, 0], [False, True, True]) == 0.0
    assert auroc([1.0], [True]) is None
    # every wrong answer hedged or abstained, no right one: perfect
    assert hedge_auroc([("hedged", False), ("uninformative", False), ("unhedged", True)]) == 1.0


def _warm_start():
    spec = importlib.util.spec_from_file_location(
        "warm_start", REPO / "experiments" / "hedging_study" / "warm_start.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_warm_start_targets_follow_the_estimated_accuracy_and_pass_the_judges():
    ws = _warm_start()
    rows = {f"train-{i}": {"id": f"train-{i}", "tier": t, "answer": a,
                           "prompt": f"What is {q}? If you are not sure, say so."}
            for i, (t, q, a) in enumerate([("easy", "3 + 4", "7"), ("medium", "40 + 13", "53"),
                                           ("hard", "123 * 45", "5535")])}

    def samples(qid: str, right: int, wrong: list[str | None]) -> list[dict]:
        out = [{"prompt_id": qid, "correct": True, "extracted": rows[qid]["answer"]}] * right
        return out + [{"prompt_id": qid, "correct": False, "extracted": w} for w in wrong]

    data = (samples("train-0", 4, ["8"] * 4)             # 4 of 8 right: flat answer
            + samples("train-1", 1, ["54"] * 7)          # 1 of 8: hedges the right answer
            + samples("train-2", 0, ["9 ******", None] * 4))  # 0 of 8, no whole-number guess
    plan = {r["id"]: r for r in ws.plan(data, rows)}
    assert [plan[q]["kind"] for q in rows] == ["answer", "hedge", "abstain"]
    assert [plan[q]["p_hat"] for q in rows] == [0.5, 0.125, 0.0]
    assert "<answer>7</answer>" in plan["train-0"]["completion"]
    assert "<answer>53</answer>" in plan["train-1"]["completion"]
    assert plan["train-2"]["completion"] in ws.ABSTAIN
    ws.check_targets(list(plan.values()))  # detector class and verifier as intended
    bad = {**plan["train-0"], "completion": "I don't know. <answer>7</answer>"}
    with pytest.raises(SystemExit, match="fix the phrasing"):
        ws.check_targets([bad])


def test_checked_in_study_report_is_derived_from_its_files(tmp_path, monkeypatch):
    """experiments/results/hedging-study/report.md, rebuilt from the metrics.jsonl and
    eval_samples.jsonl files checked in beside it, has the same tables and verdict."""
    import shutil

    from rlfb.cli import main

    monkeypatch.chdir(REPO)
    results = REPO / "experiments" / "results" / "hedging-study"
    out = tmp_path / "out"
    shutil.copytree(results, out, ignore=shutil.ignore_patterns("*.png", "*.md", "warm-start",
                                                                "measures.json"))
    sweep = REPO / "experiments" / "ablations" / "hedging-study.yaml"
    assert main(["ablate", str(sweep), "--report-only", "--output-dir", str(out)]) == 0

    def tables(text: str) -> list[str]:
        return [line for line in text.splitlines()
                if line.startswith("|") or line.startswith("**Verdict")]

    rebuilt = tables((out / "report.md").read_text())
    assert len(rebuilt) >= 40 and any(line.startswith("**Verdict") for line in rebuilt)
    assert rebuilt == tables((results / "report.md").read_text())


def test_folders_beside_the_arms_are_not_arms(tmp_path):
    analyse = _load()
    _write(tmp_path)
    _write(tmp_path / "first-attempt")  # an earlier study kept beside the runs
    assert list(analyse.runs(tmp_path)) == ["payoff=hedging"]
