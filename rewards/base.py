"""The reward contract: `RewardResult` and the `Reward` base class.

A reward turns a completion (and its reference) into one float, or None when the sample must be
masked because a judge failed. It also reports its named parts (``components``) and the
`VerifyResult`s it was built from, so that logs and ablation reports can show every signal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Hashable, Sequence

from rlfb.verifiers.base import VerifyResult


@dataclass(frozen=True)
class RewardResult:
    """One scored completion.

    Attributes:
        value: the scalar reward, or None when the sample is masked (a judge failed).
        components: named parts, each a float or None (masked part).
        verify_results: the underlying verifier results, by component name.
        info: any further evidence (hedge class, stated confidence ...).
    """

    value: float | None
    components: dict[str, float | None] = field(default_factory=dict)
    verify_results: dict[str, VerifyResult] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def masked(self) -> bool:
        """True when the sample must not contribute to the advantage."""
        return self.value is None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "value": self.value,
            "components": dict(self.components),
            "verify_results": {k: v.to_dict() for k, v in self.verify_results.items()},
            "info": dict(self.info),
        }


class Reward:
    """Base class of every reward. Subclasses define options as ``__init__`` keyword arguments
    and implement `score`; `score_batch` may be overridden for batching or for rewards that look
    at a whole group (``group_ids[i]`` names the prompt group of sample ``i``)."""

    name: str = ""
    version: ClassVar[str] = "0"

    def score(self, completion: str, reference: Any) -> RewardResult:
        """Score one completion."""
        raise NotImplementedError

    def score_batch(
        self,
        completions: Sequence[str],
        references: Sequence[Any],
        group_ids: Sequence[Hashable] | None = None,
    ) -> list[RewardResult]:
        """Score many completions; the default scores each independently."""
        if len(completions) != len(references):
            raise ValueError(
                f"score_batch got {len(completions)} completions and {len(references)} references"
            )
        return [self.score(c, r) for c, r in zip(completions, references)]


def score_batch_with_prompts(reward: Reward, completions: Sequence[str],
                             references: Sequence[Any], group_ids: Sequence[Hashable] | None,
                             prompts: Sequence[Any] | None) -> list[RewardResult]:
    """``reward.score_batch``, passing ``prompts=`` (each completion's prompt, as chat
    messages) to rewards whose ``score_batch`` takes it, such as a reward model, which must
    judge the prompt too. Rewards that only compare a completion with its reference keep the
    three-argument contract."""
    import inspect

    if prompts is not None and "prompts" in inspect.signature(reward.score_batch).parameters:
        return reward.score_batch(completions, references, group_ids, prompts=prompts)
    return reward.score_batch(completions, references, group_ids)
