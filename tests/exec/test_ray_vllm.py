"""vLLM in a Ray rollout actor: after the learner's update and an object-store sync, the engine's
behaviour logprobs are those of the updated weights (read back from the learner's checkpoint)."""

from __future__ import annotations

import json

import pytest
import torch

pytestmark = [pytest.mark.ray, pytest.mark.vllm]

#: float32 vLLM on CPU vs the float32 learner, tiny model: measured gap ~5e-7
#: (tests/rollout/test_vllm_engine.py); a stale or partial weight load is off by > 1e-2.
ATOL = 1e-5


def learner_gap(model, rollouts) -> float:
    """Largest |behaviour - model| logprob over the rollouts' completion tokens."""
    from rlfb.learner.logprobs import rollout_logprobs

    learner = rollout_logprobs(model, rollouts)
    return max(float((torch.tensor(r.logprobs) - lp).abs().max())
               for r, lp in zip(rollouts, learner))


def test_vllm_actor_generates_with_the_synced_weights(ray_local, kit, tmp_path):
    from rlfb.algo.advantages import from_groups, to_groups
    from rlfb.algo.registry import get_advantage_estimator
    from rlfb.buffer import Group, collate, rewards_and_groups
    from rlfb.exec.ray_executor import ray_executor
    from rlfb.models.load import load_policy
    from rlfb.run import resolve_model
    from rlfb.types import Prompt, SamplingParams

    options = {"max_model_len": 256, "llm_options": {"max_num_batched_tokens": 16384}}
    cfg = kit.tiny_config(tmp_path / "run", *kit.RAY_SMALL, "rollout.engine=vllm",
                          f"rollout.engine_options={json.dumps(options)}", "learner.lr=1e-2")
    model = resolve_model(cfg.model.path, tmp_path / "run")
    ex = ray_executor(cfg, model)
    try:
        prompts = [Prompt(f"p{i}", ({"role": "user", "content": f"What is {i} + 7?"},))
                   for i in range(4)]
        sampling = SamplingParams(n=4, max_new_tokens=8, temperature=1.0, seed=3)
        first = ex.generate(prompts, sampling)
        assert {r.weight_version for r in first} == {0}
        assert learner_gap(load_policy(model)[0], first) < ATOL

        scored = ex.score(prompts, first)
        groups = [Group(p.prompt_id, [s for s in scored if s.rollout.prompt_id == p.prompt_id])
                  for p in prompts]
        rewards, index = rewards_and_groups(groups)
        g = to_groups(rewards, index)
        adv = from_groups(get_advantage_estimator("grpo")(g.values, mask=g.mask), g)
        ex.update(collate(groups, adv + 1.0, pad_token_id=0))  # +1: a non-zero gradient
        sync = ex.sync_weights()
        assert ex.policy_version == 1 and sync["sync/bytes"] > 0

        second = ex.generate(prompts, sampling)
        assert {r.weight_version for r in second} == {1}
        ex.save_learner(tmp_path / "learner")
        updated = load_policy(str(tmp_path / "learner" / "model"))[0]
        assert learner_gap(updated, second) < ATOL       # the engine runs the new weights
        assert learner_gap(load_policy(model)[0], second) > 1e-3  # which differ from the old
    finally:
        ex.close()
