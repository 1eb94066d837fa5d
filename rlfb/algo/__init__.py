"""Pure tensor math for every policy update in rlfb: no config objects, no Ray, no devices.

Functions take tensors and plain numbers as keyword arguments and return tensors (or small
dataclasses of tensors). Each is tested against values computed by hand in ``tests/algo/``.

Modules:

- `rlfb.algo.advantages`: group (outcome) advantage estimators on rewards ``[G, n]``: GRPO,
  Dr.GRPO, RLOO, REINFORCE++(-baseline); zero-variance detection for DAPO dynamic sampling.
- `rlfb.algo.policy_loss`: per-token policy losses (PPO clip with clip-higher and dual clip,
  plain policy gradient, GSPO) and truncated importance-sampling weights for off-policy rollouts.
- `rlfb.algo.aggregation`: masked statistics, whitening and the loss aggregation modes.
- `rlfb.algo.kl`: k1/k2/k3 KL estimators; KL in the reward or in the loss.
- `rlfb.algo.kl_reward`: the KL in the reward for the outcome estimators (sequence form, and
  REINFORCE++'s token form).
- `rlfb.algo.logits`: logprobs and entropy from logits, optionally chunked.
- `rlfb.algo.ppo`: GAE, clipped value loss, KL controllers, token-level reward assembly.
- `rlfb.algo.preference`: DPO / cDPO / IPO and the Bradley-Terry reward-model loss.

Estimators and losses are looked up by name in `rlfb.algo.registry.ADVANTAGES` and
`rlfb.algo.registry.LOSSES`. Importing this package does not import torch.
"""

from rlfb.algo.registry import ADVANTAGES, LOSSES, get_advantage_estimator, get_policy_loss

__all__ = ["ADVANTAGES", "LOSSES", "get_advantage_estimator", "get_policy_loss"]
