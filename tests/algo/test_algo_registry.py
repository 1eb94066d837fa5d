"""The advantage and loss registries: entry points, lookups, and the shared contracts."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import pytest
import torch

from rlfb.algo import ADVANTAGES, LOSSES, get_advantage_estimator, get_policy_loss
from rlfb.algo.policy_loss import LossOutput
from rlfb.errors import RegistryError
from rlfb.registry import import_string

BUILTIN_ADVANTAGES = {"grpo", "dr_grpo", "rloo", "reinforce_pp", "reinforce_pp_baseline"}
BUILTIN_LOSSES = {"ppo_clip", "gspo"}


@pytest.mark.parametrize("group,registry,names", [
    ("rlfb.advantages", ADVANTAGES, BUILTIN_ADVANTAGES),
    ("rlfb.losses", LOSSES, BUILTIN_LOSSES),
])
def test_builtins_are_declared_as_entry_points(group, registry, names):
    declared = {ep.name: ep.value for ep in metadata.entry_points(group=group)}
    assert names <= set(declared)
    for name in names:
        assert registry.get(name) is import_string(declared[name])


def test_lookup_and_did_you_mean():
    assert get_advantage_estimator("grpo").__name__ == "grpo_advantages"
    assert get_policy_loss("ppo_clip").__name__ == "ppo_clip_loss"
    with pytest.raises(RegistryError, match="did you mean 'rloo'"):
        get_advantage_estimator("rlooo")
    with pytest.raises(RegistryError, match="unknown policy loss"):
        get_policy_loss("ppo")


@pytest.mark.parametrize("name", sorted(BUILTIN_ADVANTAGES))
def test_every_estimator_follows_the_contract(name):
    rewards = torch.tensor([[1.0, 0.0, float("nan"), 1.0], [0.5, 2.0, 1.0, -1.0]])
    mask = torch.tensor([[True, True, True, True], [True, False, True, True]])
    adv = ADVANTAGES.get(name)(rewards, mask=mask)
    assert adv.shape == (2, 4)
    assert bool(torch.isfinite(adv).all())
    assert adv[0, 2].item() == 0.0 and adv[1, 1].item() == 0.0
    # changing a masked sample's reward changes nothing
    rewards2 = rewards.clone()
    rewards2[1, 1] = 100.0
    assert torch.equal(ADVANTAGES.get(name)(rewards2, mask=mask), adv)


@pytest.mark.parametrize("name", sorted(BUILTIN_LOSSES))
def test_every_loss_follows_the_contract(name):
    gen = torch.Generator().manual_seed(0)
    logp = torch.randn(3, 5, generator=gen, requires_grad=True)
    old = logp.detach() + 0.01 * torch.randn(3, 5, generator=gen)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]])
    out = LOSSES.get(name)(logp, old, torch.tensor([1.0, -1.0, 0.5]), mask)
    assert isinstance(out, LossOutput)
    assert out.loss.shape == (3, 5)
    assert bool((out.loss[mask == 0] == 0).all())
    assert all(v.dim() == 0 and not v.requires_grad for v in out.stats.values())
    out.loss.sum().backward()
    assert bool((logp.grad[mask == 0] == 0).all())


def test_import_is_light():
    code = "import sys, rlfb.algo; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"
