"""The PPO learner: critic alignment, micro-batching invariance, learning direction, KL control,
PPO-ptx, LoRA, and exact save/load."""

from __future__ import annotations

import json

import pytest
import torch

from rlfb.learner.critic import Critic
from rlfb.learner.objective import LossSettings
from rlfb.learner.ppo import PPOLearner, PPOSettings
from rlfb.models.tiny import make_tiny_model
from rlfb.types import ExperienceBatch


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_model(tmp_path_factory.mktemp("tiny"), seed=3)


def make_batch(rows: int = 8, seed: int = 0) -> ExperienceBatch:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(7, 14, (rows,), generator=g)
    width = int(lengths.max())
    ids = torch.randint(10, 200, (rows, width), generator=g)
    attn = (torch.arange(width)[None, :] < lengths[:, None]).long()
    ids = ids * attn
    loss_mask = attn.float()
    loss_mask[:, :4] = 0  # a 4-token prompt
    loss_mask[1] = 0  # a masked sample (its judge failed)
    scores = (torch.arange(rows) % 2).float()
    scores[1] = float("nan")
    return ExperienceBatch(input_ids=ids, attention_mask=attn, loss_mask=loss_mask,
                           old_logprobs=torch.zeros(rows, width),
                           advantages=torch.zeros(rows, width), scores=scores)


def learner(path, loss=None, ppo=None, **kw):
    return PPOLearner(str(path), loss or LossSettings(), ppo or PPOSettings(),
                      **{"lr": 1e-3, **kw})


def test_critic_values_sit_at_the_logprob_positions_and_are_causal(tiny):
    critic = Critic(str(tiny), pad_token_id=0)
    ids = torch.tensor([[5, 6, 7, 8, 9, 10]])
    attn = torch.ones_like(ids)
    with torch.no_grad():
        v = critic.values(ids, attn)
        changed = ids.clone()
        changed[0, 3] = 99  # token 3 may only move the values of states after it: t >= 4
        w = critic.values(changed, attn)
        head = critic.model(input_ids=ids[:, :3], attention_mask=attn[:, :3]).logits[0, -1, 0]
    assert v.shape == (1, 6) and v[0, 0] == 0.0
    torch.testing.assert_close(v[0, :4], w[0, :4])
    assert not torch.allclose(v[0, 4:], w[0, 4:])
    torch.testing.assert_close(v[0, 3], head)  # the state before token 3 = prefix ids[:3]


def _update_grads(path, micro):
    lr = learner(path, LossSettings(kl_coef=0.05, kl_in="reward", kl_estimator="k1"),
                 micro_batch_size=micro)
    stats = lr.update(make_batch())
    grads = {n: p.grad.clone() for n, p in lr.model.named_parameters()}
    grads.update({f"critic.{n}": p.grad.clone() for n, p in lr.critic.model.named_parameters()})
    return grads, stats


def test_one_batch_of_8_equals_8_micro_batches_of_1(tiny):
    full, s_full = _update_grads(tiny, 8)
    split, s_split = _update_grads(tiny, 1)
    for key in ("learner/loss", "learner/value_loss", "learner/grad_norm",
                "learner/critic_grad_norm"):
        assert s_full[key] == pytest.approx(s_split[key], rel=1e-4, abs=1e-7), key
    assert s_full["learner/critic_grad_norm"] > 1e-3 and s_full["learner/grad_norm"] > 1e-3
    for name in full:
        torch.testing.assert_close(full[name], split[name], rtol=1e-3, atol=1e-6)


def test_updates_raise_high_score_rows_and_fit_the_critic(tiny):
    batch = make_batch()
    lr = learner(tiny, ppo=PPOSettings(value_coef=1.0, mini_batches=2), ppo_epochs=2,
                 micro_batch_size=4)
    from rlfb.learner.logprobs import sequence_logprobs

    def seq_logp():
        with torch.no_grad():
            lp = sequence_logprobs(lr.model, batch.input_ids, batch.attention_mask,
                                   batch.loss_mask)
        return (lp * batch.loss_mask).sum(-1)

    before = seq_logp()
    stats = [lr.update(batch) for _ in range(4)]
    delta = seq_logp() - before
    good = [delta[i] for i in range(8) if i != 1 and batch.scores[i] == 1]
    bad = [delta[i] for i in range(8) if i != 1 and batch.scores[i] == 0]
    assert min(good) > max(bad)
    assert stats[-1]["learner/value_mse"] < stats[0]["learner/value_mse"]
    assert stats[0]["learner/optimizer_steps"] == 4.0  # 2 epochs x 2 mini-batches
    assert lr.version == 4


def test_adaptive_kl_coefficient_moves_and_kl_in_loss_is_reported(tiny):
    ppo = PPOSettings(kl_control="adaptive", kl_target=1e-4, kl_horizon=10.0)
    lr = learner(tiny, LossSettings(kl_coef=0.1, kl_in="reward", kl_estimator="k1"), ppo)
    lr.update(make_batch())
    stats = lr.update(make_batch(seed=1))  # the policy has moved: KL > target
    assert stats["ppo/kl_seq"] > 1e-4
    # e = clip(kl / target - 1, -0.2, 0.2) = 0.2 -> beta * (1 + 0.2 * 7 / 10)
    assert stats["ppo/kl_coef_next"] == pytest.approx(stats["ppo/kl_coef"] * (1 + 0.2 * 0.7))
    in_loss = learner(tiny, LossSettings(kl_coef=0.1, kl_in="loss"))
    in_loss.update(make_batch())
    assert in_loss.update(make_batch(seed=1))["learner/kl_ref"] > 0


def test_ptx_loss_is_mixed_in_and_falls(tiny, tmp_path):
    from rlfb.config.schema import RecordFields

    data = tmp_path / "ptx.jsonl"
    data.write_text("".join(json.dumps({"text": "one two three four five six"}) + "\n"
                            for _ in range(4)))
    ppo = PPOSettings(ptx_coef=1.0, ptx_batch_size=2)
    lr = learner(tiny, ppo=ppo, ptx={"files": [str(data)], "fields": RecordFields()})
    losses = [lr.update(make_batch())["learner/ptx_loss"] for _ in range(4)]
    assert losses[-1] < losses[0] - 0.5
    with pytest.raises(Exception, match="ptx_files"):
        learner(tiny, ppo=ppo)


def test_save_and_load_continue_exactly(tiny, tmp_path):
    kw = dict(loss=LossSettings(kl_coef=0.05, kl_in="reward", kl_estimator="k1"),
              ppo=PPOSettings(kl_control="adaptive", kl_target=0.01, kl_horizon=50.0,
                              mini_batches=2))
    a = learner(tiny, **kw)
    a.update(make_batch())
    a.update(make_batch(seed=1))
    a.save(tmp_path / "ckpt")
    expected = a.update(make_batch(seed=2))
    b = learner(tiny, **kw)
    b.load(tmp_path / "ckpt")
    got = b.update(make_batch(seed=2))
    skip = ("learner/update_s", "perf/")
    assert {k: v for k, v in got.items() if not k.startswith(skip)} == \
        {k: v for k, v in expected.items() if not k.startswith(skip)}
    assert b.kl_ctl.value == a.kl_ctl.value != 0.05


def test_lora_policy_and_critic(tiny, tmp_path):
    lora = {"rank": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}
    lr = learner(tiny, LossSettings(kl_coef=0.05, kl_in="reward", kl_estimator="k1"), lora=lora)
    assert lr.ref_model is None  # the reference is the base model with adapters disabled
    trainable = [n for n, p in lr.critic.model.named_parameters() if p.requires_grad]
    assert any("lora_" in n for n in trainable) and any("score" in n for n in trainable)
    lr.update(make_batch())
    stats = lr.update(make_batch(seed=1))
    assert stats["ppo/kl_seq"] != 0.0
    names = [n for n, _ in lr.named_weights()]
    assert "model.layers.0.self_attn.q_proj.weight" in names and not any("lora" in n for n in names)
    lr.save(tmp_path / "lora")
    again = learner(tiny, LossSettings(kl_coef=0.05, kl_in="reward", kl_estimator="k1"),
                    lora=lora)
    again.load(tmp_path / "lora")
    batch = make_batch(seed=2)
    with torch.no_grad():
        v1 = lr.critic.values(batch.input_ids, batch.attention_mask)
        v2 = again.critic.values(batch.input_ids, batch.attention_mask)
    torch.testing.assert_close(v1, v2)


def test_missing_scores_is_a_clear_error(tiny):
    batch = make_batch()
    batch.scores = None
    with pytest.raises(Exception, match="needs per-sample scores"):
        learner(tiny).update(batch)
