"""PPO with a critic through the controller loop on a tiny model: it raises a verifier reward,
a resumed run (critic, KL controller, shuffling generator) continues exactly, bad configs fail
early."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlfb.config import load_config
from rlfb.errors import ConfigError
from rlfb.trainers import make_trainer
from rlfb.run_log import read_jsonl

# the format verifier's reward: the completion contains a digit (as in tests/test_loop.py)
DIGIT = {"mode": "regex", "pattern": "[0-9]", "match": "search"}


def config(out: Path, *overrides: str):
    base = [
        f"run.output_dir={out}", "run.name=ppo", "run.steps=4", "run.seed=0",
        "run.save_every=2", "run.samples_every=0", "run.progress=false",
        "run.tracker=none", "model.path=tiny:0", "algo.name=ppo",
        "algo.kl_coef=0.02", "algo.kl_in=reward", "algo.kl_estimator=k1", "algo.ppo_epochs=2",
        "ppo.mini_batches=2", "ppo.value_coef=0.5",
        "data.source=reasoning_gym", "data.options={task: basic_arithmetic, size: 200, seed: 0}",
        "data.prompts_per_step=8", "data.eval_prompts=8",
        "rollout.n=2", "rollout.max_new_tokens=12", "reward.name=verifier",
        f"reward.options={json.dumps({'verifier': 'format', 'options': DIGIT})}",
        "learner.lr=2e-3", "learner.micro_batch_size=8",
        "eval.every=2", "eval.verifier=format", f"eval.verifier_options={json.dumps(DIGIT)}",
    ]
    return load_config(None, [*base, *overrides])


def train(cfg) -> list[dict]:
    trainer = make_trainer(cfg)
    try:
        run_dir = trainer.run()
    finally:
        trainer.close()
    return read_jsonl(Path(run_dir) / "metrics.jsonl")


def deterministic(records: list[dict]) -> list[dict]:
    skip = ("time/", "perf/", "learner/update_s")
    return [{k: v for k, v in r.items() if not k.startswith(skip)} for r in records]


def test_ppo_raises_a_verifier_reward_over_its_start(tmp_path):
    records = train(config(tmp_path / "run", "run.steps=12", "eval.every=0",
                           "run.save_every=0", "algo.ppo_epochs=1"))
    rewards = [r["reward/mean"] for r in records]
    assert len(rewards) == 12
    assert sum(rewards[-3:]) / 3 > sum(rewards[:3]) / 3 + 0.15, rewards
    last = records[-1]
    assert last["learner/optimizer_steps"] == 2.0  # 1 epoch x 2 mini-batches
    assert {"learner/value_loss", "ppo/kl_seq", "ppo/returns_mean", "learner/critic_grad_norm"} \
        <= set(last)


def test_ppo_resume_matches_uninterrupted(tmp_path):
    over = ("ppo.kl_control=adaptive", "ppo.kl_target=0.5", "ppo.kl_horizon=100",
            "data.prompts_per_step=4")
    full = deterministic(train(config(tmp_path / "full", *over)))
    train(config(tmp_path / "part", *over, "run.steps=2"))
    resumed = deterministic(train(config(tmp_path / "part", *over,
                                         f"run.resume={tmp_path / 'part'}")))
    assert resumed == full
    assert full[-1]["ppo/kl_coef"] != 0.02  # the adaptive coefficient moved and was restored
    ckpt = tmp_path / "part" / "checkpoints" / "step-000004" / "learner"
    assert (ckpt / "critic" / "model").is_dir() and (ckpt / "ppo_state.pt").exists()


def test_ppo_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not apply to ppo"):
        config(tmp_path, "algo.advantage=grpo")  # checked when it loads
    with pytest.raises(ConfigError, match="algo.kl_coef to the starting coefficient"):
        config(tmp_path, "ppo.kl_control=adaptive", "algo.kl_coef=0")
    with pytest.raises(ConfigError, match="ppo.gamma and ppo.lam must be in"):
        config(tmp_path, "ppo.lam=1.5")
