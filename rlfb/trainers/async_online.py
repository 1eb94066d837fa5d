"""Async mode (``ray.mode: async``): the rollouts of the next steps run while the learner updates.

With depth ``d = ray.async_depth`` each step does

1. wait for the scored rollouts of this step (launched ``d`` steps earlier; a producer thread has
   put their groups in the buffer actor);
2. launch the rollouts of step ``s + d``: the generate calls reach the engines now, ahead of this
   step's weight push, so they sample with the weights the engines hold (version ``s - 1``);
3. take the batch from the buffer, update, and push the new weights, which each engine loads
   after the generation it is running.

So generation and scoring of step ``s + d`` overlap the update of step ``s``, and every sample
trained on is exactly ``d`` versions stale (``staleness/<k>`` metrics); the first steps are
fresher. ``buffer.max_staleness`` must allow ``d``. The correction is ``algo.tis_cap``: the
objective weights each token by ``min(pi_theta / mu, tis_cap)``, the truncated importance ratio
between the learner's policy and the behaviour policy ``mu`` whose logprobs the engine recorded
(the PPO clip acts on the ratio to the pre-update policy, as in sync mode). Without it the stale
samples are used uncorrected, and the trainer warns.

The ``buffer/`` counters of a step (groups added, queue depth) are read while the producers of
later steps add groups, so they vary with timing; the groups the learner takes do not.

Prompts are drawn in the same order as in sync mode, and each step's sampling seed is the
same, so an async run differs from a sync run only in which weights sampled each step. A
checkpoint waits for the rollouts in flight and stores them, so a resumed run continues exactly.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import Future
from dataclasses import replace
from typing import Any, TYPE_CHECKING

from rlfb.errors import ConfigError, RlfbError
from rlfb.trainers.online import OnlineTrainer
from rlfb.run import step_seed

if TYPE_CHECKING:
    from rlfb.config.schema import TrainConfig


class AsyncTrainer(OnlineTrainer):
    """`OnlineTrainer` whose rollouts run ``ray.async_depth`` steps ahead (module docstring)."""

    def __init__(self, cfg: TrainConfig, executor: Any = None) -> None:
        self._ahead: deque[tuple[int, list[Any], Future]] = deque()
        super().__init__(cfg, executor)
        self._last_launched = self._ahead[-1][0] if self._ahead else self.step
        if not hasattr(self.ex, "submit_rollouts"):
            raise ConfigError(f"ray.mode=async needs an executor with submit_rollouts, got "
                              f"{type(self.ex).__name__}")

    def _launch_through(self, last: int) -> None:
        """Launch the rollouts of every step up to ``last`` (and ``run.steps``) not launched."""
        while self._last_launched < min(last, self.cfg.run.steps):
            step = self._last_launched + 1
            prompts = self.ctx.sampler.next_batch(self.cfg.data.prompts_per_step)
            future = self.ex.submit_rollouts(prompts, self.sampling(step), self.buffer)
            self._ahead.append((step, prompts, future))
            self._last_launched = step

    def _collect(self, step: int, t: dict[str, float]) -> tuple[list[Any], list[Any], int]:
        """This step's groups from the pipeline (then DAPO refills, run synchronously)."""
        want = self.cfg.data.prompts_per_step
        self._launch_through(step)
        if self._ahead[0][0] != step:
            raise RlfbError(f"async pipeline out of order: step {step} found the rollouts of "
                            f"step {self._ahead[0][0]} first")
        start = time.perf_counter()
        _, _, future = self._ahead.popleft()
        samples = list(future.result())
        t["time/wait_rollouts"] = time.perf_counter() - start
        self._launch_through(step + self.cfg.ray.async_depth)
        version = self.ex.policy_version
        groups = self.buffer.take(want, version)
        rounds = 0
        while (len(groups) < want and self.buffer.drop_zero_variance
               and rounds < self.cfg.buffer.max_refill_rounds):
            rounds += 1
            prompts = self.ctx.sampler.next_batch(want - len(groups))
            sampling = replace(self.sampling(step), seed=step_seed(self.cfg.run.seed, step,
                                                                   rounds))
            samples.extend(self.ex.submit_rollouts(prompts, sampling, self.buffer).result())
            groups += self.buffer.take(want - len(groups), version)
        return groups, samples, rounds

    def checkpoint_state(self) -> dict[str, Any]:
        """Waits for the rollouts in flight (their groups join the buffer) and keeps their
        samples, so a resumed run picks the pipeline up where it was."""
        ahead = [(s, prompts, future.result()) for s, prompts, future in self._ahead]
        return {**super().checkpoint_state(), "async_ahead": ahead}

    def restore_state(self, state: dict[str, Any]) -> None:
        """The sync state, and the rollouts that were in flight, as finished futures."""
        super().restore_state(state)
        for s, prompts, samples in state.get("async_ahead", []):
            future: Future = Future()
            future.set_result(samples)
            self._ahead.append((s, prompts, future))
