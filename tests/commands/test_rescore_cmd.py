"""`rlfb rescore`: a trained tiny run re-scored under its own reward, and a hand-made run under
Schulman's hedging reward with every figure computed by hand."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from rlfb.cli import main
from rlfb.config import load_config, save_config
from rlfb.run_log import read_jsonl

DIGIT = {"mode": "regex", "pattern": "[0-9]", "match": "search"}
REWARD = {"verifier": "format", "options": DIGIT}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """Two GRPO steps of a tiny model, every sample saved."""
    from rlfb.trainers import make_trainer
    out = tmp_path_factory.mktemp("run") / "run"
    cfg = load_config(None, [
        f"run.output_dir={out}", "run.steps=2", "run.seed=0", "run.save_every=0",
        "run.samples_every=1", "run.progress=false", "run.tracker=none",
        "model.path=tiny:0", "data.source=reasoning_gym",
        "data.options={task: basic_arithmetic, size: 50, seed: 0}", "data.prompts_per_step=4",
        "data.eval_prompts=0", "eval.every=0", "rollout.engine=hf", "rollout.n=4",
        "rollout.max_new_tokens=12", "reward.name=verifier",
        f"reward.options={json.dumps(REWARD)}", "learner.lr=3e-3", "learner.micro_batch_size=16",
    ])
    trainer = make_trainer(cfg)
    try:
        trainer.run()
    finally:
        trainer.close()
    return out


def test_rescore_under_the_same_reward_changes_nothing(trained_run, tmp_path):
    spec = tmp_path / "same.yaml"
    spec.write_text(yaml.safe_dump({"name": "verifier", "options": REWARD}))
    out = tmp_path / "out"
    assert main(["rescore", str(trained_run), "--reward", str(spec), "--out", str(out)]) == 0
    s = json.loads((out / "rescore.json").read_text())
    saved = read_jsonl(trained_run / "samples.jsonl")
    assert s["samples"] == len(saved) == 2 * 4 * 4 and s["steps"] == [1, 2]
    assert s["groups"] == 8
    assert s["reward_old"]["std"] > 0  # the tiny model gives both rewards, so ranks are defined
    assert s["spearman"] == 1.0 and s["spearman_within_group_mean"] in (1.0, None)
    assert s["best_changed"] == 0 and s["best_changed_frac"] == 0.0
    assert s["became_zero_variance_frac"] == 0.0 and s["stopped_zero_variance_frac"] == 0.0
    assert s["reward_new"] == s["reward_old"]
    assert s["statuses_new"] == s["statuses_old"] and sum(s["statuses_new"].values()) == 32
    assert s["advantages"]["mean_abs_change"] == 0.0 and s["advantages"]["sign_changed_frac"] == 0
    rows = read_jsonl(out / "rescore_samples.jsonl")
    assert [r["reward_new"] for r in rows] == [r["reward"] for r in saved]
    assert [r["components_new"] for r in rows] == [r["components"] for r in saved]
    assert s["settings"]["advantage"] == "grpo"
    assert (out / "rescore_hist.png").read_bytes()[:4] == b"\x89PNG"


def test_rescore_a_different_reward_matches_a_hand_computation(tmp_path):
    """One step, groups A, B, C of three samples; old reward = math correctness (one masked)."""
    run = tmp_path / "run"
    save_config(load_config(None, [f"run.output_dir={run}", "rollout.n=3",
                                   "reward.options={verifier: math}"]), run / "config.yaml")
    rows = [  # (prompt id, reference, completion, old reward)
        ("A", "7", "\\boxed{7}", 1.0), ("A", "7", "I think it is \\boxed{7}", 1.0),
        ("A", "7", "\\boxed{8}", 0.0),
        ("B", "4", "I don't know.", 0.0), ("B", "4", "\\boxed{5}", 0.0),
        ("B", "4", "Probably \\boxed{5}", 0.0),
        ("C", "2", "\\boxed{2}", 1.0), ("C", "2", "\\boxed{3}", 0.0),
        ("C", "2", "\\boxed{3}", None),  # its judge timed out during training
    ]
    (run / "samples.jsonl").write_text("".join(json.dumps(
        {"step": 3, "prompt_id": p, "reference": ref, "completion": c, "reward": r,
         "components": {"math": r}}) + "\n" for p, ref, c, r in rows))
    spec = tmp_path / "hedging.yaml"
    spec.write_text("name: hedging\noptions: {verifier: math}\n")
    out = tmp_path / "out"
    assert main(["rescore", str(run), "--reward", str(spec), "--out", str(out)]) == 0
    s = json.loads((out / "rescore.json").read_text())
    # Schulman's table: A = +1, +0.5 (hedged), -4; B = 0 (abstains), -4, -2 (hedged); C = +1, -4, -4
    new = [1.0, 0.5, -4.0, 0.0, -4.0, -2.0, 1.0, -4.0, -4.0]
    out_rows = read_jsonl(out / "rescore_samples.jsonl")
    assert [r["reward_new"] for r in out_rows] == new
    assert s["reward_new"]["mean"] == pytest.approx(sum(new) / 9, rel=1e-12)
    assert s["reward_old"]["n"] == 8 and s["reward_old"]["masked"] == 1
    assert s["reward_old"]["mean"] == pytest.approx(3 / 8, rel=1e-12)
    assert s["reward_new"]["q50"] == -2.0 and s["reward_new"]["min"] == -4.0
    assert s["components_new"]["payoff"]["mean"] == pytest.approx(sum(new) / 9, rel=1e-12)
    assert s["components_new"]["correct"]["mean"] == pytest.approx(3 / 9, rel=1e-12)
    assert s["statuses_new"] == {"math/correct": 3, "math/unparseable": 1, "math/wrong": 5}
    # Overall Spearman over the 8 pairs without the masked one. Old ranks: the five 0s share
    # 1..5 (3), the three 1s share 6..8 (7). New ranks: -4 x3 -> 2, -2 -> 4, 0 -> 5, 0.5 -> 6,
    # 1 x2 -> 7.5. Deviations from 4.5: old (+2.5 x3, -1.5 x5); new a0 3, a1 1.5, a2 -2.5,
    # b0 0.5, b1 -2.5, b2 -0.5, c0 3, c1 -2.5. Sxy = 2.5 * 7.5 + 1.5 * 7.5 = 30, Sxx = 30,
    # Syy = 39.5.
    assert s["spearman"] == pytest.approx(30 / math.sqrt(30 * 39.5), rel=1e-12)
    # Within groups: A old ranks (2.5, 2.5, 1), new (3, 2, 1): 1.5 / sqrt(1.5 * 2);
    # B old is constant (undefined); C has two valid pairs in the same order: 1.
    assert s["spearman_within_group_defined"] == 2
    assert s["spearman_within_group_mean"] == pytest.approx(
        (1.5 / math.sqrt(1.5 * 2) + 1.0) / 2, rel=1e-12)
    # Best samples: A {0, 1} -> {0}, B {0, 1, 2} -> {0} change; C {0} -> {0} does not.
    assert s["best_changed"] == 2 and s["best_changed_frac"] == pytest.approx(2 / 3)
    # Zero variance: only B under the old reward; none under the new.
    assert s["zero_variance_old_frac"] == pytest.approx(1 / 3)
    assert s["zero_variance_new_frac"] == 0.0
    assert s["stopped_zero_variance_frac"] == pytest.approx(1 / 3)
    assert s["became_zero_variance_frac"] == 0.0
    # GRPO advantages (config default: std normalised, unbiased std, eps 1e-6)
    def grpo(values):
        valid = [v for v in values if v is not None]
        mean = sum(valid) / len(valid)
        std = math.sqrt(sum((v - mean) ** 2 for v in valid) / (len(valid) - 1))
        if std == 0:
            return [0.0] * len(values)
        return [0.0 if v is None else (v - mean) / (std + 1e-6) for v in values]

    old = [r for *_, r in rows]
    want_old = grpo(old[0:3]) + grpo(old[3:6]) + grpo(old[6:9])
    want_new = grpo(new[0:3]) + grpo(new[3:6]) + grpo(new[6:9])
    # C under the old reward: valid (1, 0), mean 0.5, std sqrt(0.5); the masked sample gets 0
    assert want_old[6:] == [0.5 / (math.sqrt(0.5) + 1e-6), -0.5 / (math.sqrt(0.5) + 1e-6), 0.0]
    assert [r["advantage_old"] for r in out_rows] == pytest.approx(want_old, rel=1e-5, abs=1e-6)
    assert [r["advantage_new"] for r in out_rows] == pytest.approx(want_new, rel=1e-5, abs=1e-6)
    changes = [abs(b - a) for a, b in zip(want_old, want_new)]
    assert s["advantages"]["mean_abs_change"] == pytest.approx(sum(changes) / 9, rel=1e-5)
    md = (out / "rescore.md").read_text()
    assert "| groups whose best sample changes | 0.6667 |" in md


@pytest.mark.parametrize("case, message", [
    ("no_samples", "has no saved rollouts"),
    ("not_a_run", "not a run directory"),
    ("missing_yaml", "does not exist"),
    ("unknown_reward", "did you mean 'hedging'"),
])
def test_rescore_bad_input_is_one_line_exit_2(tmp_path, capsys, case, message):
    run = tmp_path / "run"
    if case != "not_a_run":
        save_config(load_config(None, [f"run.output_dir={run}"]), run / "config.yaml")
    if case in ("missing_yaml", "unknown_reward"):
        (run / "samples.jsonl").write_text(json.dumps(
            {"step": 1, "prompt_id": "a", "completion": "1", "reward": 1.0}) + "\n")
    reward = {"missing_yaml": str(tmp_path / "nope.yaml"), "unknown_reward": "hedgng"}.get(
        case, "verifier")
    run.mkdir(exist_ok=True)
    assert main(["rescore", str(run), "--reward", reward, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
