"""The local executor: every role in this process (zero workers).

The online trainer talks to roles only through an executor's methods
(`rlfb.exec.protocol.Executor`), so the Ray executor runs the same loop with the roles as
actors.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

from rlfb.buffer import ExperienceBuffer
from rlfb.types import ExperienceBatch, Prompt, Rollout, SamplingParams, ScoredSample


class LocalExecutor:
    """Builds the rollout engine, scorer and learner in this process.

    Args:
        engine: engine registry name ("hf" or "vllm").
        engine_options: keyword options of the engine.
        reward: reward registry name, and ``reward_options`` its options.
        learner_factory: a zero-argument callable that builds the `PolicyLearner`.
        model_path: the initial policy folder the engine loads.
        env: the config's environment (`rlfb.environments.episodes.EnvSettings`), or None for
            single-turn rollouts; with one, the engine is wrapped in the multi-turn
            `EpisodeEngine`, whose tools then run in this process.
        sleep_engine: the engine shares the learner's GPU (``rollout.colocate``): it sleeps
            during every update and wakes right after it, before the weight sync
            (`rlfb.rollout.vllm_engine.VLLMEngine.sleep`).

    On a machine without CUDA it calls `rlfb.memory.keep_freed_memory` first, for this whole
    process: the learner's activations and the engine's buffers are then reused from one step
    to the next instead of page-faulted in again.
    """

    def __init__(self, *, model_path: str, engine: str, engine_options: dict[str, Any],
                 reward: str, reward_options: dict[str, Any], learner_factory: Any,
                 sleep_engine: bool = False, env: Any = None) -> None:
        import torch

        from rlfb.memory import keep_freed_memory
        from rlfb.rollout import get_engine
        from rlfb.scoring import Scorer

        if not torch.cuda.is_available():
            keep_freed_memory()
        self.learner = learner_factory()
        self.engine = get_engine(engine, model_path, **engine_options)
        if env is not None:
            from rlfb.environments.episodes import wrap_engine

            self.engine = wrap_engine(self.engine, env)
        self.scorer = Scorer(reward, reward_options)
        self.sleep_engine = sleep_engine

    def generate(self, prompts: Sequence[Prompt], sampling: SamplingParams) -> list[Rollout]:
        """Sample ``sampling.n`` completions per prompt with the current policy."""
        return self.engine.generate(prompts, sampling)

    def score(self, prompts: Sequence[Prompt], rollouts: Sequence[Rollout]) -> list[ScoredSample]:
        """Score rollouts with the configured reward."""
        return self.scorer.score(prompts, rollouts)

    def update(self, batch: ExperienceBatch) -> dict[str, float]:
        """One learner update (with the engine asleep when it shares the learner's GPU)."""
        if not self.sleep_engine:
            return self.learner.update(batch)
        self.engine.sleep()
        try:
            return self.learner.update(batch)
        finally:
            self.engine.wake_up()

    def sync_weights(self) -> dict[str, float]:
        """Send the learner's weights to the engine; returns timing and size."""
        start = time.perf_counter()
        weights = list(self.learner.named_weights())
        nbytes = sum(t.numel() * t.element_size() for _, t in weights)
        self.engine.update_weights(weights, self.learner.version)
        return {"sync/seconds": time.perf_counter() - start, "sync/bytes": float(nbytes)}

    def make_buffer(self, **options: Any) -> ExperienceBuffer:
        """An `ExperienceBuffer` in this process."""
        return ExperienceBuffer(**options)

    @property
    def policy_version(self) -> int:
        """The learner's weight version."""
        return self.learner.version

    def save_learner(self, path: Path) -> None:
        """Write the learner's checkpoint part."""
        self.learner.save(path)

    def load_learner(self, path: Path) -> None:
        """Restore the learner and push its weights to the engine."""
        self.learner.load(path)
        self.sync_weights()

    def close(self) -> None:
        """Release the engine."""
        self.engine.close()
