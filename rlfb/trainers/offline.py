"""The offline trainer: SFT, DPO and reward-model training from HF datasets files.

``rlfb train`` with an offline algorithm (``sft``, ``dpo``, ``reward_model``) runs
`OfflineTrainer`: rows of ``offline.files`` are read once (`rlfb.data.records`; the algorithm
says how), a held-out set is taken from ``offline.eval_files`` or ``offline.holdout``, and each
step is one optimiser step on ``offline.batch_size`` rows drawn in seeded epochs
(`rlfb.data.base.PromptSampler`). Every ``eval.every`` steps (and before training and at the
end) the held-out set is scored; what is reported is the algorithm's (`rlfb.algorithms.offline`,
`rlfb.algorithms.reward_model`).

DPO's reference logprobs are computed once, with the untrained policy, for every training and
held-out pair, and kept in ``RUN_DIR/reference_logps.pt`` (checked against the data on resume),
so full fine-tuning needs no second model in memory.

Logging, checkpoints (``RUN_DIR/checkpoints/step-N``) and exact resume work as in the online
loop (`rlfb.trainers.online`); the run's ``report.md`` gets the loss and accuracy curves.
"""

from __future__ import annotations

import hashlib
import math
import sys
import time
from pathlib import Path
from typing import Any, TYPE_CHECKING

import torch

from rlfb.algorithms import make_algorithm
from rlfb.errors import ConfigError, RlfbError
from rlfb.trainers.base import Trainer, check_resumable

if TYPE_CHECKING:
    from rlfb.config.schema import TrainConfig

REFERENCE_FILE = "reference_logps.pt"


class OfflineTrainer(Trainer):
    """Runs a configured offline job (SFT, DPO, reward model); `run` returns the run
    directory."""

    def __init__(self, cfg: TrainConfig) -> None:
        from rlfb.config import save_config
        from rlfb.data.base import PromptSampler
        from rlfb.data.records import ListSource
        from rlfb.models.load import load_tokenizer
        from rlfb.run import resolve_model

        self.algorithm = make_algorithm(cfg.algo)
        if self.algorithm.online:
            raise ConfigError(f"algo.name={cfg.algo.name!r} trains online; use "
                              "rlfb.trainers.make_trainer (rlfb train does)")
        check_resumable(cfg)
        self.cfg = cfg
        self.run_dir = Path(cfg.run.output_dir).resolve()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, self.run_dir / "config.yaml")
        model_path = resolve_model(cfg.model.path, self.run_dir)
        tokenizer = load_tokenizer(model_path)
        self.pad = int(tokenizer.pad_token_id)
        self.train, self.held = self._load_data(tokenizer)
        o = cfg.offline
        self.steps_per_epoch = math.ceil(len(self.train) / o.batch_size)
        self.total = o.epochs * self.steps_per_epoch if o.epochs else cfg.run.steps
        self.learner = self.algorithm.learner(cfg, model_path, self.total)
        self.sampler = PromptSampler(ListSource(self.train), seed=cfg.run.seed,
                                     shuffle=o.shuffle)
        self.step = 0
        if self.algorithm.needs_reference:
            self.ref_train, self.ref_held = self._reference_logps(bool(cfg.run.resume))
        if cfg.run.resume:
            self.resume(Path(cfg.run.resume))
        if cfg.eval.every and not self.held:
            print("rlfb: no held-out rows (set offline.eval_files or offline.holdout); "
                  "evaluation is skipped", file=sys.stderr)
        self.open_log()

    @property
    def total_steps(self) -> int:
        """``offline.epochs`` epochs of ``offline.batch_size`` rows, or ``run.steps``."""
        return self.total

    # -- setup -----------------------------------------------------------------------------
    def _load_data(self, tokenizer: Any) -> tuple[list[Any], list[Any]]:
        from rlfb.data.base import split_holdout
        from rlfb.data.records import Encoder

        o = self.cfg.offline
        encoder = Encoder(tokenizer, o.fields, system_prompt=o.system_prompt,
                          chat_template=o.chat_template, max_length=o.max_length)
        load = self.algorithm.load_rows
        rows = load(o.files, encoder, o.format)[:o.limit]
        if o.eval_files:
            return rows, load(o.eval_files, encoder, o.format)
        return split_holdout(rows, o.holdout, o.holdout_seed, "the offline files")

    def _reference_logps(self, resume: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """``([N, 2], [M, 2])`` reference logprobs (chosen, rejected) of train and held-out
        pairs: computed now with the untrained policy, or read back on resume."""
        path = self.run_dir / REFERENCE_FILE
        fingerprint = _fingerprint(self.train, self.held)
        if resume:
            if not path.exists():
                raise RlfbError(f"cannot resume DPO: {path} (the cached reference logprobs) is "
                                "missing; start a fresh run")
            saved = torch.load(path, weights_only=False)
            if saved["fingerprint"] != fingerprint:
                raise RlfbError(f"cannot resume DPO: the data differs from the run's ({path} was "
                                "computed for other pairs); resume with the same offline files")
            return saved["train"], saved["held"]
        out = [self._score_reference(pairs) for pairs in (self.train, self.held)]
        torch.save({"fingerprint": fingerprint, "train": out[0], "held": out[1]}, path)
        return out[0], out[1]

    def _score_reference(self, pairs: list[Any]) -> torch.Tensor:
        from rlfb.data.records import preference_batch

        size = self.cfg.offline.batch_size
        parts = []
        for i in range(0, len(pairs), size):
            chunk = pairs[i:i + size]
            logps = self.learner.reference_logps(preference_batch(chunk, self.pad))
            parts.append(torch.stack([logps[:len(chunk)], logps[len(chunk):]], dim=1))
        return torch.cat(parts) if parts else torch.zeros(0, 2)

    def _batch(self, rows: list[Any], index: list[int], ref: torch.Tensor | None) -> Any:
        reference = None if ref is None else ref[torch.tensor(index, dtype=torch.long)]
        return self.algorithm.batch(rows, self.pad, reference)

    # -- steps, evaluation, checkpoints ----------------------------------------------------
    def train_step(self, step: int) -> dict[str, Any]:
        """One optimiser step on the next batch; returns its metrics."""
        start = time.perf_counter()
        index = self.sampler.next_indices(self.cfg.offline.batch_size)
        rows = [self.train[i] for i in index]
        metrics = dict(self.learner.update(self._batch(rows, index, getattr(self, "ref_train",
                                                                            None))))
        metrics["data/epoch"] = self.sampler.epoch + self.sampler.position / self.sampler.size
        # tokenised rows know whether they were cut; text rows (reward models) are cut later
        metrics["data/truncated"] = sum(getattr(r, "truncated", False) for r in rows)
        elapsed = time.perf_counter() - start
        metrics["time/step"] = elapsed
        metrics["perf/samples_per_s"] = len(rows) / elapsed if elapsed else 0.0
        return metrics

    def can_evaluate(self) -> bool:
        """Only with held-out rows."""
        return bool(self.held)

    def evaluate(self, step: int) -> dict[str, Any]:
        """The algorithm's held-out metrics; {} without held-out rows."""
        if not self.held:
            return {}
        start = time.perf_counter()
        size = self.cfg.offline.batch_size
        sums: dict[str, float] = {}
        for i in range(0, len(self.held), size):
            index = list(range(i, min(i + size, len(self.held))))
            batch = self._batch([self.held[j] for j in index], index,
                                getattr(self, "ref_held", None))
            for key, value in self.learner.evaluate(batch).items():
                sums[key] = sums.get(key, 0.0) + value
        out = self.algorithm.eval_metrics(sums)
        out["time/eval"] = time.perf_counter() - start
        return out

    def save_learner(self, path: Path) -> None:
        """The learner writes its checkpoint part."""
        self.learner.save(path)

    def load_learner(self, path: Path) -> None:
        """The learner restores itself."""
        self.learner.load(path)

    def checkpoint_state(self) -> dict[str, Any]:
        """The data position."""
        return {"sampler": self.sampler.state_dict()}

    def restore_state(self, state: dict[str, Any]) -> None:
        """The data position."""
        self.sampler.load_state_dict(state["sampler"])

    def finish(self) -> None:
        """What the algorithm writes at the end (a reward model's export)."""
        self.algorithm.finish(self.learner, self.run_dir)

    def write_report(self, title: str | None = None) -> Path:
        """`write_offline_report` of this run."""
        return write_offline_report(self.run_dir, title=title)


def _fingerprint(*parts: list[Any]) -> str:
    """A hash of the token ids of every pair, in order."""
    digest = hashlib.sha256()
    for pairs in parts:
        for p in pairs:
            digest.update(repr((p.prompt_ids, p.chosen_ids, p.rejected_ids)).encode())
        digest.update(b"|")
    return digest.hexdigest()


OFFLINE_CURVES = {
    "offline_loss.png": ("Loss", ["learner/loss", "eval/loss"]),
    "offline_pairs.png": ("Held-out preference accuracy",
                          ["eval/pair_accuracy", "eval/logp_accuracy"]),
}


def write_offline_report(run_dir: str | Path, title: str | None = None) -> Path:
    """Write ``report.md`` (first and last loss and held-out figures, step time) and PNG curves
    of an offline run from its ``metrics.jsonl``; returns the report path."""
    from rlfb.run_log import METRICS_FILE, read_jsonl
    from rlfb.report import plot_curves, series

    run_dir = Path(run_dir)
    records = read_jsonl(run_dir / METRICS_FILE)
    steps = max((r["step"] for r in records), default=0)
    lines = [f"# {title or run_dir.name}", "", f"Steps: {steps}. Source: `{METRICS_FILE}` in "
             "this folder.", "", "| metric | first (step) | last (step) |", "| --- | --- | --- |"]
    for key in ("learner/loss", "eval/loss", "eval/perplexity", "eval/pair_accuracy",
                "eval/logp_accuracy", "eval/reward_margin"):
        at, values = series(records, key)
        if values:
            lines.append(f"| {key} | {values[0]:.4g} ({at[0]}) | {values[-1]:.4g} ({at[-1]}) |")
    _, times = series(records, "time/step")
    _, rates = series(records, "perf/samples_per_s")
    if times:
        lines.extend(["", f"Mean per training step: {sum(times) / len(times):.4g} s, "
                          f"{sum(rates) / len(rates):.4g} samples/s."])
    pngs = plot_curves(records, run_dir, OFFLINE_CURVES)
    lines.extend(["", *(f"![{p.stem}]({p.name})" for p in pngs), ""])
    path = run_dir / "report.md"
    path.write_text("\n".join(lines))
    return path
