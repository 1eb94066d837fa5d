"""DPO: pair selection, the learner's losses at the reference point, micro-batching invariance,
offline DPO raising held-out pairwise accuracy (with exact resume), online DPO raising a
verifier reward on a tiny model."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch

from rlfb.buffer import Group
from rlfb.config import load_config
from rlfb.data.records import Pair, preference_batch
from rlfb.learner.preference import DPOLearner
from rlfb.trainers import make_trainer
from rlfb.run_log import read_jsonl
from rlfb.models.tiny import make_tiny_model
from rlfb.trainers.offline import OfflineTrainer
from rlfb.algorithms.online_dpo import pick_pair, preference_pairs
from rlfb.types import Rollout, ScoredSample


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny"), seed=2)


def sample(prompt_id: str, i: int, reward: float | None, completion: list[int]) -> ScoredSample:
    rollout = Rollout(prompt_id, i, [1, 2, 3], completion, "x", [0.0] * len(completion), "stop", 0)
    return ScoredSample(rollout, None, reward)


def test_pairs_take_best_and_worst_and_skip_ties_and_masked():
    assert pick_pair([0.5, 1.0, None, 0.0, 1.0], [2, 2, 2, 2, 2]) == (1, 3)
    assert pick_pair([1.0, None, 1.0], [2, 2, 2]) is None  # a tie among the valid samples
    assert pick_pair([1.0, 0.0], [2, 0]) is None  # no completion token: not a candidate
    groups = [Group("a", [sample("a", 0, 0.0, [7, 8]), sample("a", 1, 1.0, [9])]),
              Group("b", [sample("b", 0, 1.0, [4]), sample("b", 1, 1.0, [5])]),
              Group("c", [sample("c", 0, None, [4]), sample("c", 1, 2.0, [6])])]
    batch, stats = preference_pairs(groups, pad_token_id=0)
    assert stats == {"dpo/pairs": 1.0, "dpo/ties_skipped": 2.0, "dpo/chosen_score": 1.0,
                     "dpo/rejected_score": 0.0}
    assert batch.input_ids.tolist() == [[1, 2, 3, 9, 0], [1, 2, 3, 7, 8]]
    assert batch.loss_mask.tolist() == [[0, 0, 0, 1, 0], [0, 0, 0, 1, 1]]
    assert preference_pairs(groups[1:2], 0)[0] is None


def make_pairs(n: int, seed: int) -> list[Pair]:
    g = random.Random(seed)
    return [Pair(tuple(g.randint(10, 200) for _ in range(g.randint(3, 6))),
                 tuple(g.randint(10, 200) for _ in range(g.randint(2, 7))),
                 tuple(g.randint(10, 200) for _ in range(g.randint(2, 7)))) for _ in range(n)]


@pytest.mark.parametrize("loss_type, smoothing, expected", [
    ("sigmoid", 0.0, math.log(2)),      # -log sigmoid(0)
    ("sigmoid", 0.2, math.log(2)),      # -(0.8 + 0.2) log sigmoid(0)
    ("ipo", 0.0, (1 / (2 * 0.1)) ** 2),  # (0 - 1 / (2 beta))^2 = 25
])
def test_losses_at_the_reference_point(tiny, loss_type, smoothing, expected):
    learner = DPOLearner(str(tiny), beta=0.1, loss_type=loss_type, label_smoothing=smoothing,
                         lr=1e-3)
    stats = learner.update(preference_batch(make_pairs(4, 0), 0))
    assert stats["learner/loss"] == pytest.approx(expected, rel=1e-5)
    assert stats["dpo/reward_margin"] == pytest.approx(0.0, abs=1e-6)
    after = learner.evaluate(preference_batch(make_pairs(4, 0), 0))
    assert after["reward_accuracy"] == 4.0 and after["reward_margin"] > 0  # it learned them


def test_one_batch_of_8_pairs_equals_micro_batches_of_1_pair(tiny):
    batch = preference_batch(make_pairs(8, 1), 0)

    def grads(micro):
        learner = DPOLearner(str(tiny), beta=0.5, lr=1e-3, micro_batch_size=micro)
        stats = learner.update(batch)
        return {n: p.grad.clone() for n, p in learner.model.named_parameters()}, stats

    full, s_full = grads(16)
    split, s_split = grads(2)
    assert s_full["learner/loss"] == pytest.approx(s_split["learner/loss"], rel=1e-6)
    assert s_full["learner/grad_norm"] == pytest.approx(s_split["learner/grad_norm"], rel=1e-4)
    for name in full:
        torch.testing.assert_close(full[name], split[name], rtol=1e-3, atol=1e-7)


def test_lora_reference_is_the_base_model(tiny):
    lora = {"rank": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}
    learner = DPOLearner(str(tiny), beta=0.1, lr=1e-2, lora=lora)
    assert learner.ref_model is None
    batch = preference_batch(make_pairs(4, 3), 0)
    before = learner.reference_logps(batch)
    learner.update(batch)
    learner.update(batch)
    torch.testing.assert_close(learner.reference_logps(batch), before)  # adapters disabled
    with torch.no_grad():
        policy = torch.cat([learner._row_logps(learner.model, batch, r)
                            for r in learner._row_chunks(batch)])
    assert not torch.allclose(policy, before[torch.cat(learner._row_chunks(batch))])
    cached = DPOLearner(str(tiny), reference="cached", lr=1e-2)
    cached.update(preference_batch(make_pairs(4, 3), 0, ref_logps=before))
    with pytest.raises(Exception, match="pass ref_logps"):
        cached.update(batch)


def preference_rows(n: int, seed: int) -> list[dict]:
    """Correct vs wrong sums. The wrong sums are two-digit (the correct ones never are), a cue
    a tiny random model can pick up in seconds: the test checks DPO's mechanics, not
    arithmetic."""
    g = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b = g.randint(0, 4), g.randint(0, 4)
        rows.append({"prompt": f"What is {a} + {b}?", "chosen": f"The answer is {a + b}.",
                     "rejected": f"The answer is {a + b + g.randint(10, 80)}."})
    return rows


def dpo_config(tmp_path: Path, out: Path, *overrides: str):
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in preference_rows(96, 0)))
    base = [f"run.output_dir={out}", "run.name=dpo", "run.steps=10", "run.seed=0",
            "run.save_every=0", "run.progress=false", "run.tracker=none",
            "model.path=tiny:0", "algo.name=dpo", f"offline.files=[{data}]",
            "offline.holdout=32", "offline.batch_size=8", "learner.lr=2e-3",
            "learner.micro_batch_size=16", "eval.every=5", "dpo.beta=0.1"]
    return load_config(None, [*base, *overrides])


def run_offline(cfg) -> list[dict]:
    trainer = OfflineTrainer(cfg)
    try:
        return read_jsonl(Path(trainer.run()) / "metrics.jsonl")
    finally:
        trainer.close()


def test_offline_dpo_raises_held_out_pairwise_accuracy(tmp_path):
    records = run_offline(dpo_config(tmp_path, tmp_path / "run"))
    evals = [r for r in records if "eval/pair_accuracy" in r]
    assert [r["step"] for r in evals] == [0, 5, 10]
    first, last = evals[0], evals[-1]
    assert first["eval/pair_accuracy"] == 0.0  # policy == reference: every implicit reward is 0
    assert last["eval/pair_accuracy"] >= 0.9 and last["eval/reward_margin"] > 0
    assert first["eval/loss"] == pytest.approx(math.log(2))
    assert last["eval/loss"] < first["eval/loss"] - 0.08  # measured: 0.693 -> 0.576
    assert (tmp_path / "run" / "reference_logps.pt").exists()


def test_offline_dpo_resume_is_exact(tmp_path):
    skip = ("time/", "perf/", "learner/update_s")

    def clean(rs):
        return [{k: v for k, v in r.items() if not k.startswith(skip)} for r in rs]

    over = ("run.steps=4", "run.save_every=2", "eval.every=2", "dpo.loss=ipo")
    full = run_offline(dpo_config(tmp_path, tmp_path / "full", *over))
    run_offline(dpo_config(tmp_path, tmp_path / "part", *over[1:], "run.steps=2"))
    part = tmp_path / "part"
    resumed = run_offline(dpo_config(tmp_path, part, *over, f"run.resume={part}"))
    assert clean(resumed) == clean(full)


# the format verifier's reward: the completion contains a digit (as in tests/test_loop.py)
DIGIT = {"mode": "regex", "pattern": "[0-9]", "match": "search"}


def test_online_dpo_raises_a_verifier_reward(tmp_path):
    cfg = load_config(None, [
        f"run.output_dir={tmp_path / 'online'}", "run.name=online", "run.steps=12",
        "run.seed=0", "run.save_every=0", "run.progress=false", "run.tracker=none",
        "model.path=tiny:0", "algo.name=online_dpo", "dpo.beta=0.1",
        "data.source=reasoning_gym", "data.options={task: basic_arithmetic, size: 200, seed: 0}",
        "data.prompts_per_step=4", "data.eval_prompts=0", "rollout.n=4",
        "rollout.max_new_tokens=12", "reward.name=verifier",
        f"reward.options={json.dumps({'verifier': 'format', 'options': DIGIT})}",
        "learner.lr=3e-3", "learner.micro_batch_size=8", "eval.every=0"])
    trainer = make_trainer(cfg)
    try:
        records = read_jsonl(Path(trainer.run()) / "metrics.jsonl")
    finally:
        trainer.close()
    rewards = [r["reward/mean"] for r in records]
    assert len(rewards) == 12
    assert sum(rewards[-3:]) / 3 > sum(rewards[:3]) / 3 + 0.15, rewards
    pairs = [r["dpo/pairs"] for r in records]
    assert all(p + r["dpo/ties_skipped"] == 4 for p, r in zip(pairs, records))
    assert sum(pairs) > 0 and all("learner/loss" in r for r in records if r["dpo/pairs"])


def test_online_dpo_config_errors(tmp_path):
    base = [f"run.output_dir={tmp_path}", "model.path=tiny:0", "algo.name=online_dpo"]
    from rlfb.errors import ConfigError

    with pytest.raises(ConfigError, match="rollout.n must be >= 2"):  # checked when it loads
        load_config(None, [*base, "rollout.n=1"])
    with pytest.raises(ConfigError, match="does not apply to online_dpo"):
        load_config(None, [*base, "algo.advantage=rloo"])
    with pytest.raises(ConfigError, match="dpo.label_smoothing applies to loss=sigmoid"):
        load_config(None, [*base, "dpo.loss=ipo", "dpo.label_smoothing=0.1"])
