"""Token accounting of multi-turn trajectories: tool tokens get no policy loss, KL or entropy
(a hand-built case), GRPO gives one advantage per trajectory, and PPO's GAE skips the holes."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from rlfb.algo.ppo import assemble_token_rewards, gae
from rlfb.buffer import Group, collate
from rlfb.learner.logprobs import logprobs_and_entropy
from rlfb.learner.objective import LossSettings, batch_denominator, policy_objective
from rlfb.types import Rollout, ScoredSample

V = 7  # vocabulary of the hand-built logits
PROMPT = [1, 2]
#           model  model  tool tool tool  model model
COMPLETION = [3, 4, 5, 6, 2, 4, 0]
MASK = [1, 1, 0, 0, 0, 1, 1]


def rollout(mask=MASK, completion=COMPLETION, **kw) -> Rollout:
    lp = [-0.5 if m else 0.0 for m in MASK]
    return Rollout(prompt_id="p", sample_index=kw.pop("sample_index", 0), prompt_token_ids=PROMPT,
                   completion_token_ids=completion, text="t", logprobs=lp,
                   finish_reason="stop", weight_version=0, completion_mask=mask, **kw)


class LogitsModel(torch.nn.Module):
    """A "causal LM" whose logits are one leaf tensor ``[1, T, V]``, whatever the input; it
    honours ``logits_to_keep`` (the packed path) so every forward-pass layout works."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits

    def forward(self, input_ids, position_ids=None, attention_mask=None, use_cache=False,
                logits_to_keep=None):
        out = self.logits[:, : input_ids.shape[1]]
        if logits_to_keep is not None:
            out = out[:, logits_to_keep]
        return SimpleNamespace(logits=out)


def test_collate_takes_the_completion_mask_as_loss_mask():
    batch = collate([Group("p", [ScoredSample(rollout(), None, 1.0)])], [0.7], pad_token_id=0)
    assert batch.loss_mask[0].tolist() == [0, 0, *MASK]
    assert batch.advantages[0].tolist() == pytest.approx([0, 0, *[0.7 * m for m in MASK]])
    assert batch.old_logprobs[0].tolist() == [0, 0, *[-0.5 * m for m in MASK]]


def test_collate_refuses_a_mask_of_the_wrong_length():
    with pytest.raises(Exception, match="completion_mask of 3 entries"):
        collate([Group("p", [ScoredSample(rollout(mask=[1, 0, 1]), None, 1.0)])], [1.0], 0)


@pytest.mark.parametrize("method", ["packed", "padded", "bucketed"])
def test_tool_tokens_get_no_gradient_and_the_loss_is_the_model_tokens_only(method):
    torch.manual_seed(0)
    ids = PROMPT + COMPLETION
    T = len(ids)
    logits = torch.randn(1, T, V, requires_grad=True)
    batch = collate([Group("p", [ScoredSample(rollout(), None, 1.0)])], [0.8], pad_token_id=0)
    ref = torch.randn(1, T) * 0.1 - 2.0
    settings = LossSettings(kl_coef=0.3, kl_estimator="k3", kl_in="loss", entropy_coef=0.05)
    logp, entropy = logprobs_and_entropy(LogitsModel(logits), batch.input_ids,
                                         batch.attention_mask, batch.loss_mask, method=method)
    loss, _ = policy_objective(
        logp=logp, old_logp=None, behaviour_logp=batch.old_logprobs,
        advantages=batch.advantages, mask=batch.loss_mask, ref_logp=ref * batch.loss_mask,
        entropy=entropy, denominator=batch_denominator(batch.loss_mask, "token-mean"),
        settings=settings, norm_length=float(T))
    loss.backward()

    # by hand: the logits at position t-1 predict token t; only model tokens count
    model_positions = [len(PROMPT) + i for i, m in enumerate(MASK) if m]
    tool_positions = [len(PROMPT) + i for i, m in enumerate(MASK) if not m]
    expected = 0.0
    with torch.no_grad():
        for t in model_positions:
            lsm = logits[0, t - 1].log_softmax(-1)
            lp = lsm[ids[t]]
            log_r = ref[0, t] - lp
            k3 = log_r.exp() - log_r - 1
            ent = -(lsm.exp() * lsm).sum()
            expected += -0.8 * 1.0 + 0.3 * k3 - 0.05 * ent  # ratio exp(lp - lp.detach()) = 1
    expected /= len(model_positions)
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-6, abs=1e-7)
    grad = logits.grad[0]
    for t in tool_positions:
        assert torch.equal(grad[t - 1], torch.zeros(V)), t  # exactly zero, not merely small
    for t in model_positions:
        assert grad[t - 1].abs().sum() > 1e-4, t


def test_grpo_gives_every_model_token_of_a_trajectory_one_advantage():
    from rlfb.algorithms.outcome import GRPO
    from rlfb.config import AlgoConfig

    algo = GRPO(AlgoConfig(name="grpo", advantage="grpo",
                           advantage_options={"normalize_std": True}))
    samples = [ScoredSample(rollout(sample_index=0), None, 1.0),
               ScoredSample(rollout(sample_index=1), None, 0.0)]
    batch, _ = algo.batch([Group("p", samples)], pad_token_id=0)
    for b in range(2):
        row = batch.advantages[b][batch.loss_mask[b].bool()]
        assert len(row) == sum(MASK) and torch.all(row == row[0])
        assert torch.all(batch.advantages[b][~batch.loss_mask[b].bool()] == 0)
    assert batch.advantages[0, 2] == pytest.approx(-batch.advantages[1, 2]) and \
        batch.advantages[0, 2] > 0


def test_ppo_gae_skips_tool_tokens_as_if_absent():
    mask = torch.tensor([[0, 0, *MASK]], dtype=torch.float32)
    values = torch.tensor([[0.0, 0.0, 0.1, 0.2, 9.0, 9.0, 9.0, 0.3, 0.4]]) * mask
    rewards = assemble_token_rewards(torch.tensor([1.0]), mask)
    assert rewards[0].tolist() == [0, 0, 0, 0, 0, 0, 0, 0, 1.0]  # the score at the last model token
    adv, ret = gae(rewards, values, mask, gamma=0.9, lam=0.8)
    # the same row with the tool tokens removed: 4 model tokens in a row
    dense_v = torch.tensor([[0.1, 0.2, 0.3, 0.4]])
    dense_r = torch.tensor([[0.0, 0.0, 0.0, 1.0]])
    dense_adv, dense_ret = gae(dense_r, dense_v, torch.ones(1, 4), gamma=0.9, lam=0.8)
    keep = mask[0].bool()
    assert adv[0][keep].tolist() == pytest.approx(dense_adv[0].tolist(), rel=1e-6)
    assert ret[0][keep].tolist() == pytest.approx(dense_ret[0].tolist(), rel=1e-6)
    assert adv[0][~keep].tolist() == [0.0] * 5


def test_dr_grpo_divides_a_multiturn_trajectory_by_the_episode_budget():
    """Dr.GRPO's fixed normaliser is the most tokens a sample can have: one turn's
    max_new_tokens without an environment, the episode's token budget with one (resolved from
    the environment when the config leaves it null), which trajectories can reach."""
    from rlfb.algorithms.base import norm_length, policy_settings
    from rlfb.config import load_config
    from rlfb.environments import get_environment

    base = ["model.path=tiny:0", "algo.loss_agg=seq-mean-token-sum-norm",
            "rollout.max_new_tokens=48"]
    assert norm_length(load_config(None, base)) == 48
    cfg = load_config(None, [*base, "env.name=tool-arith"])
    budget = get_environment("tool-arith").max_tokens
    assert budget > 48 and cfg.env.max_tokens == budget and cfg.env.max_turns >= 2
    assert policy_settings(cfg)[0].agg_norm_length == float(budget)
    cfg = load_config(None, [*base, "env.name=tool-arith", "env.max_tokens=300"])
    assert policy_settings(cfg)[0].agg_norm_length == 300.0
