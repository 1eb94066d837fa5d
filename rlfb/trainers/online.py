"""The online trainer: RL from the policy's own scored rollouts (GRPO, RLOO, REINFORCE++, PPO,
online DPO, plugin algorithms).

Each step: sample prompts → rollout → score → buffer → the algorithm's batch (advantages,
scores or pairs; `rlfb.algorithms`) → learner update → weight sync; every ``eval.every`` steps a
held-out evaluation, every ``run.save_every`` a checkpoint (the skeleton is
`rlfb.trainers.base.Trainer`). The trainer talks to roles only through an executor
(`rlfb.exec.protocol.Executor`: the local one, or Ray's), so the same code runs in one process
or on a cluster.

Determinism: the sampling seed of step s is derived from ``(run.seed, s)``, the data order from
``run.seed``, and the learner's RNG is checkpointed, so a seeded CPU run is reproducible and a
resumed run continues exactly like an uninterrupted one.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, TYPE_CHECKING

import torch

from rlfb.algorithms import make_algorithm
from rlfb.environments.episodes import episode_metrics
from rlfb.errors import RlfbError
from rlfb.evaluation.held_out import detection_metrics, evaluation_metrics, grouped_eval_metrics
from rlfb.exec.protocol import Executor
from rlfb.report import write_report
from rlfb.run import RunContext, build_run, step_seed
from rlfb.scoring.scorer import status_counts
from rlfb.trainers.base import Trainer, check_resumable
from rlfb.types import SamplingParams

if TYPE_CHECKING:
    from rlfb.config.schema import TrainConfig


class OnlineTrainer(Trainer):
    """Runs a configured online-RL job; `run` returns the run directory.

    `rlfb.trainers.make_trainer` builds it, or, with ``ray.mode: async``, its pipelined subclass
    `rlfb.trainers.async_online.AsyncTrainer`, whose rollouts overlap the learner's update.
    """

    progress_metric = ("reward", "reward/mean", ".3f")

    def __init__(self, cfg: TrainConfig, executor: Any = None) -> None:
        check_resumable(cfg)
        self.cfg = cfg
        self.algorithm = make_algorithm(cfg.algo)
        if not self.algorithm.online:
            raise RlfbError(f"algo.name={cfg.algo.name!r} trains offline; use "
                            "rlfb.trainers.make_trainer (rlfb train does)")
        self.ctx: RunContext = build_run(cfg, executor)
        self.run_dir = self.ctx.run_dir
        self.ex: Executor = self.ctx.executor
        self.buffer = self.ex.make_buffer(max_staleness=cfg.buffer.max_staleness,
                                          drop_zero_variance=cfg.buffer.drop_zero_variance)
        self.step = 0
        if cfg.run.resume:
            self.resume(Path(cfg.run.resume))
        self.open_log()

    # -- one step --------------------------------------------------------------------------
    def sampling(self, step: int) -> SamplingParams:
        """The rollout sampling parameters of ``step``."""
        r = self.cfg.rollout
        return SamplingParams(n=r.n, max_new_tokens=r.max_new_tokens, temperature=r.temperature,
                              top_p=r.top_p, top_k=r.top_k, seed=step_seed(self.cfg.run.seed, step))

    def train_step(self, step: int) -> dict[str, Any]:
        """One full step; returns its metrics."""
        t: dict[str, float] = {}
        groups, samples, refills = self._collect(step, t)
        metrics: dict[str, Any] = {}
        batch = None
        if groups:
            start = time.perf_counter()
            batch = self._batch(groups, metrics)
            t["time/collate"] = time.perf_counter() - start
        if batch is not None:
            start = time.perf_counter()
            metrics.update(self.ex.update(batch))
            t["time/update"] = time.perf_counter() - start
            sync = self.ex.sync_weights()
            t["time/sync"] = sync.pop("sync/seconds")
            metrics.update(sync)
        metrics.update(_sample_metrics(samples, self.cfg.rollout.max_new_tokens))
        metrics.update({f"buffer/{k}": v for k, v in self.buffer.stats().to_dict().items()})
        metrics["buffer/refill_rounds"] = refills
        metrics["train/groups_used"] = len(groups)
        metrics.update(t)
        total = sum(v for k, v in t.items() if k.startswith("time/"))
        tokens = sum(len(s.rollout.completion_token_ids) for s in samples)
        metrics["time/step"] = total
        metrics["perf/samples_per_s"] = len(samples) / total if total else 0.0
        metrics["perf/tokens_per_s"] = tokens / total if total else 0.0
        if self.cfg.run.samples_every and step % self.cfg.run.samples_every == 0:
            self.log.log_samples(step, (_sample_record(self.ctx, s) for s in samples))
        return metrics

    def _batch(self, groups: list[Any], metrics: dict[str, Any]) -> Any:
        """The learner's batch of ``groups``, as the algorithm builds it (group advantages,
        scores for a critic, preference pairs ...; None when there is nothing to learn)."""
        batch, stats = self.algorithm.batch(groups, self.ctx.pad_token_id)
        metrics.update(stats)
        return batch

    def _collect(self, step: int, t: dict[str, float]) -> tuple[list[Any], list[Any], int]:
        """Roll out and score until the buffer holds a batch (DAPO refills when dropping
        zero-variance groups); returns (groups taken, every sample scored, refill rounds)."""
        want = self.cfg.data.prompts_per_step
        version = self.ex.policy_version
        samples: list[Any] = []
        rounds = 0
        while True:
            prompts = self.ctx.sampler.next_batch(want - self.buffer.num_ready(version)
                                                  if rounds else want)
            start = time.perf_counter()
            sampling = self.sampling(step) if rounds == 0 else \
                SamplingParams(**{**self.sampling(step).__dict__,
                                  "seed": step_seed(self.cfg.run.seed, step, rounds)})
            rollouts = self.ex.generate(prompts, sampling)
            t["time/generate"] = t.get("time/generate", 0.0) + time.perf_counter() - start
            start = time.perf_counter()
            scored = self.ex.score(prompts, rollouts)
            t["time/score"] = t.get("time/score", 0.0) + time.perf_counter() - start
            samples.extend(scored)
            for p in prompts:
                self.buffer.add_group(p.prompt_id, [s for s in scored
                                                    if s.rollout.prompt_id == p.prompt_id])
            if (self.buffer.num_ready(version) >= want or not self.buffer.drop_zero_variance
                    or rounds >= self.cfg.buffer.max_refill_rounds):
                break
            rounds += 1
        return self.buffer.take(want, version), samples, rounds

    # -- evaluation, checkpoints, the run --------------------------------------------------
    def evaluate(self, step: int) -> dict[str, Any]:
        """Held-out accuracy, pass@k and reward components of the current policy."""
        e = self.cfg.eval
        start = time.perf_counter()
        sampling = SamplingParams(n=e.k, max_new_tokens=e.max_new_tokens or
                                  self.cfg.rollout.max_new_tokens,
                                  temperature=0.0 if e.greedy else e.temperature,
                                  top_p=1.0, top_k=-1, seed=step_seed(self.cfg.run.seed, -1))
        prompts = self.ctx.eval_prompts
        rollouts = self.ex.generate(prompts, sampling)
        scored = self.ex.score(prompts, rollouts)
        verdicts = self.ctx.accuracy.verify_batch([r.text for r in rollouts],
                                                  [s.reference for s in scored])
        correct = [v.status.value == "correct" if v.judged else None for v in verdicts]
        out = evaluation_metrics(prompts, scored, correct, n=e.k, ks=sorted({1, e.k}))
        out.update(episode_metrics(rollouts, prefix="eval/"))
        classes: list[str | None] = [None] * len(rollouts)
        if e.hedge_detector:
            from rlfb.rewards.hedging.detect import get_hedge_detector

            detector = get_hedge_detector(e.hedge_detector, **dict(e.hedge_detector_options))
            detections = detector.detect_batch([r.text for r in rollouts])
            out.update(detection_metrics(detections, correct))
            classes = [d.hedge_class.value for d in detections]
        records = _eval_records(prompts, scored, verdicts, correct, classes)
        out.update(grouped_eval_metrics(records, e.group_by))
        self.log.log_eval_samples(step, records)
        out["time/eval"] = time.perf_counter() - start
        return out

    def save_learner(self, path: Path) -> None:
        """The learner role writes its checkpoint part."""
        self.ex.save_learner(path)

    def load_learner(self, path: Path) -> None:
        """The learner role restores itself and pushes its weights to the engines."""
        self.ex.load_learner(path)

    def checkpoint_state(self) -> dict[str, Any]:
        """The controller state a checkpoint holds (a subclass adds its own)."""
        return {"sampler": self.ctx.sampler.state_dict(), "buffer": self.buffer.state_dict(),
                "algorithm": self.algorithm.state_dict()}

    def restore_state(self, state: dict[str, Any]) -> None:
        """Data position, buffer and the algorithm's own state."""
        self.ctx.sampler.load_state_dict(state["sampler"])
        self.buffer.load_state_dict(state["buffer"])
        self.algorithm.load_state_dict(state.get("algorithm", {}))

    def write_report(self, title: str | None = None) -> Path:
        """`rlfb.report.write_report` of this run."""
        return write_report(self.run_dir, title=title)

    def close(self) -> None:
        """Release the executor's roles."""
        self.ex.close()


def _sample_metrics(samples: list[Any], max_new_tokens: int) -> dict[str, Any]:
    if not samples:
        return {}
    valid = torch.tensor([s.reward for s in samples if s.reward is not None], dtype=torch.float64)
    lengths = torch.tensor([len(s.rollout.completion_token_ids) for s in samples],
                           dtype=torch.float64)
    out: dict[str, Any] = {
        "reward/mean": float(valid.mean()) if len(valid) else None,
        "reward/std": float(valid.std(unbiased=False)) if len(valid) else None,
        "reward/masked": len(samples) - len(valid),
        "length/mean": float(lengths.mean()),
        "length/max": float(lengths.max()),
        "length/clipped_frac": sum(s.rollout.finish_reason == "length" for s in samples)
        / len(samples),
    }
    parts: dict[str, list[float]] = {}
    for s in samples:
        for name, value in s.components.items():
            if value is not None:
                parts.setdefault(name, []).append(value)
    out.update({f"reward/{k}": sum(v) / len(v) for k, v in sorted(parts.items())})
    out.update({f"status/{k}": v for k, v in status_counts(samples).items()})
    out.update(episode_metrics([s.rollout for s in samples]))
    return out


def _eval_records(prompts: list[Any], scored: list[Any], verdicts: list[Any],
                  correct: list[bool | None], classes: list[str | None]
                  ) -> list[dict[str, Any]]:
    """One record per held-out completion: the prompt (messages and the fields its source
    gave, e.g. a difficulty tier), the completion, the accuracy verifier's verdict (``correct``
    None when the judge failed), the reward and its parts, and the hedge class when a detector
    is set."""
    by_id = {p.prompt_id: p for p in prompts}
    records = []
    for sample, verdict, ok, hedge in zip(scored, verdicts, correct, classes):
        r, prompt = sample.rollout, by_id[sample.rollout.prompt_id]
        record = {"prompt_id": r.prompt_id, "sample_index": r.sample_index,
                  "prompt": list(prompt.messages), "fields": dict(prompt.meta),
                  "reference": sample.reference, "completion": r.text,
                  "status": verdict.status.value, "correct": ok, "reward": sample.reward,
                  "components": sample.components, "finish_reason": r.finish_reason}
        if hedge is not None:
            record["hedge_class"] = hedge
        if r.episode is not None:
            record.update(episode=r.episode, messages=r.messages)
        records.append(record)
    return records


def _sample_record(ctx: RunContext, sample: Any) -> dict[str, Any]:
    r = sample.rollout
    return {"prompt_id": r.prompt_id, "prompt": ctx.decode(r.prompt_token_ids),
            "completion": r.text, "reference": sample.reference, "reward": sample.reward,
            "components": sample.components, "statuses": sample.statuses,
            "evidence": sample.evidence, "finish_reason": r.finish_reason,
            "weight_version": r.weight_version,
            **({"episode": r.episode, "messages": r.messages} if r.episode is not None else {})}
