"""`"verifier"`: any registered verifier used as a reward.

The value is the verifier's score (1.0 / 0.0 / partial credit). A judge failure (TIMEOUT or
ERROR) gives ``value = None``: the sample is masked, never scored as 0.
"""

from __future__ import annotations

from typing import Any

from rlfb.rewards.base import Reward, RewardResult
from rlfb.verifiers import get_verifier


class VerifierReward(Reward):
    """Reward = score of ``verifier`` (built with ``options``)."""

    version = "1"

    def __init__(self, verifier: str = "math", options: dict[str, Any] | None = None) -> None:
        self.verifier = get_verifier(verifier, **(options or {}))
        self.verifier_name = verifier

    def score(self, completion: str, reference: Any) -> RewardResult:
        """Score one completion by its verifier result."""
        return self._wrap(self.verifier.verify(completion, reference))

    def score_batch(self, completions, references, group_ids=None) -> list[RewardResult]:  # type: ignore[override]
        """Score many completions through the verifier's own batch path."""
        return [self._wrap(r) for r in self.verifier.verify_batch(completions, references)]

    def _wrap(self, result: Any) -> RewardResult:
        value = result.score if result.judged else None
        return RewardResult(
            value=value,
            components={self.verifier_name: value},
            verify_results={self.verifier_name: result},
        )
