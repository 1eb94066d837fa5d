"""REINFORCE with a moving-average baseline, as an rlfb algorithm plugin.

The advantage of sample i is ``r_i - b``, where the baseline ``b`` is an exponential moving
average of the mean reward of earlier steps: after each batch, ``b <- m * b + (1 - m) * mean(r)``
(``m`` = ``momentum``; ``b`` starts at 0). Every token of a sample shares its advantage. A masked
sample (its judge failed: reward None) gets advantage 0 and takes no part in the mean.
"""

from __future__ import annotations

from typing import Any

import torch

from rlfb.algorithms import OnlineAlgorithm
from rlfb.buffer import collate, rewards_and_groups
from rlfb.errors import ConfigError


class ReinforceBaseline(OnlineAlgorithm):
    """REINFORCE, advantage = reward - moving-average baseline.

    Args:
        settings: the config's ``algo`` section.
        momentum: weight of the old baseline in each update, in [0, 1).
    """

    def __init__(self, settings: Any, momentum: float = 0.9) -> None:
        super().__init__(settings)
        if not 0.0 <= momentum < 1.0:
            raise ConfigError(f"algo.options.momentum must be in [0, 1), got {momentum}")
        self.momentum = float(momentum)
        self.baseline = 0.0

    def check(self, cfg: Any) -> None:
        """The baseline replaces advantage estimators."""
        if cfg.algo.advantage is not None:
            raise ConfigError(f"algo.advantage={cfg.algo.advantage!r} does not apply to "
                              "reinforce_baseline (its moving baseline makes the advantages); "
                              "remove it")

    def batch(self, groups: list[Any], pad_token_id: int) -> tuple[Any, dict[str, Any]]:
        """Advantages against the current baseline; then the baseline moves."""
        rewards, _ = rewards_and_groups(groups)
        valid = ~torch.isnan(rewards)
        advantages = torch.where(valid, rewards - self.baseline, torch.zeros_like(rewards))
        stats = {"reinforce/baseline": self.baseline}
        if bool(valid.any()):
            mean = float(rewards[valid].mean())
            self.baseline = self.momentum * self.baseline + (1.0 - self.momentum) * mean
        return collate(groups, advantages, pad_token_id), stats

    def state_dict(self) -> dict[str, Any]:
        """The baseline, so that a resumed run continues exactly."""
        return {"baseline": self.baseline}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the baseline."""
        self.baseline = float(state["baseline"])
