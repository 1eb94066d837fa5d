"""What a trainer needs from an executor: the roles behind one interface.

The online trainer (`rlfb.trainers.online`) talks to the rollout engines, the scorers, the
learner and the experience buffer only through these methods, so the same loop runs with every
role in this process (`rlfb.exec.local.LocalExecutor`, zero workers) or as Ray actors
(`rlfb.exec.ray_executor.RayExecutor`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, Sequence, runtime_checkable

from rlfb.types import ExperienceBatch, Prompt, Rollout, SamplingParams, ScoredSample


@runtime_checkable
class Executor(Protocol):
    """The roles of an online run, whichever process they live in."""

    @property
    def policy_version(self) -> int:
        """The learner's weight version (the engines sample with it after a sync)."""
        ...

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingParams) -> list[Rollout]:
        """``sampling.n`` completions per prompt from the current policy."""
        ...

    def score(self, prompts: Sequence[Prompt], rollouts: Sequence[Rollout]) -> list[ScoredSample]:
        """The configured reward of each rollout."""
        ...

    def update(self, batch: ExperienceBatch) -> dict[str, float]:
        """One learner update; its metrics."""
        ...

    def sync_weights(self) -> dict[str, float]:
        """Push the learner's weights to every engine; ``sync/seconds`` and more."""
        ...

    def make_buffer(self, **options: Any) -> Any:
        """The experience buffer (`rlfb.buffer.ExperienceBuffer` options) where the roles can
        reach it: in this process, or a buffer actor."""
        ...

    def save_learner(self, path: Path) -> None:
        """Write the learner's checkpoint part."""
        ...

    def load_learner(self, path: Path) -> None:
        """Restore the learner and push its weights to the engines."""
        ...

    def close(self) -> None:
        """Release every role."""
        ...
