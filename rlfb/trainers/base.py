"""The skeleton every trainer shares: build → loop → evaluate → checkpoint → report.

A trainer builds its parts in ``__init__`` (subclasses: roles and data), then `Trainer.run`
drives the loop that is the same for online and offline training: a held-out evaluation before
the first step, one `train_step` per step, an evaluation every ``eval.every`` steps and at the
end, one record per step in the run log (`rlfb.run_log`), a checkpoint every ``run.save_every``
steps and at the end, one progress bar. `Trainer.resume` restores the latest checkpoint, so a
resumed run continues exactly. Subclasses say what a step, an evaluation, a checkpoint and a
report are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TYPE_CHECKING

from rlfb.checkpoint import latest_checkpoint, load_state, save_checkpoint, set_rng_state
from rlfb.config import config_to_dict
from rlfb.console import terminal
from rlfb.errors import RlfbError
from rlfb.run_log import MetricsLogger

if TYPE_CHECKING:
    from rlfb.config.schema import TrainConfig


def check_resumable(cfg: TrainConfig) -> None:
    """`RlfbError` when ``run.resume`` names a folder without a checkpoint."""
    if cfg.run.resume and latest_checkpoint(cfg.run.resume) is None:
        raise RlfbError(f"cannot resume: no checkpoint in {cfg.run.resume}/checkpoints "
                        "(runs save every run.save_every steps)")


class Trainer:
    """Base of the online and offline trainers (see the module docstring).

    A subclass sets ``cfg``, ``run_dir`` and ``step`` (0, or the resumed step via `resume`),
    calls `open_log` at the end of ``__init__``, and implements `train_step`, `evaluate`,
    `save_learner`, `load_learner`, `checkpoint_state`, `restore_state` and `write_report`.
    """

    cfg: TrainConfig
    run_dir: Path
    step: int = 0
    log: MetricsLogger
    #: the progress bar's figure: its label, the metric it shows, and the format
    progress_metric: tuple[str, str, str] = ("loss", "learner/loss", ".4f")

    # -- what a subclass says ----------------------------------------------------------------
    @property
    def total_steps(self) -> int:
        """Steps of the whole run."""
        return int(self.cfg.run.steps)

    def train_step(self, step: int) -> dict[str, Any]:
        """One optimiser step (with whatever feeds it); returns its metrics."""
        raise NotImplementedError

    def can_evaluate(self) -> bool:
        """False when there is nothing held out to evaluate on."""
        return True

    def evaluate(self, step: int) -> dict[str, Any]:
        """Held-out metrics of the current model."""
        raise NotImplementedError

    def save_learner(self, path: Path) -> None:
        """Write the learner's part of a checkpoint."""
        raise NotImplementedError

    def load_learner(self, path: Path) -> None:
        """Restore the learner from a checkpoint's part."""
        raise NotImplementedError

    def checkpoint_state(self) -> dict[str, Any]:
        """The trainer's own state a checkpoint holds (data position, buffer ...)."""
        raise NotImplementedError

    def restore_state(self, state: dict[str, Any]) -> None:
        """Restore what `checkpoint_state` returned."""
        raise NotImplementedError

    def write_report(self, title: str | None = None) -> Path:
        """Write the run's ``report.md`` (and curves); returns its path."""
        raise NotImplementedError

    def finish(self) -> None:
        """After the last step: what the run writes besides checkpoints; nothing by default."""

    def close(self) -> None:
        """Release what the trainer holds (roles, actors); nothing by default."""

    # -- the skeleton ------------------------------------------------------------------------
    def open_log(self) -> None:
        """Open the run log (appending after the resumed step, if any)."""
        cfg = self.cfg
        self.log = MetricsLogger(self.run_dir, resume_step=self.step if cfg.run.resume else None,
                                 tracker=cfg.run.tracker, run_name=cfg.run.name,
                                 run_config=config_to_dict(cfg))

    def resume(self, run_dir: Path) -> None:
        """Restore the latest checkpoint of ``run_dir``: learner, trainer state, RNG, step."""
        ckpt = latest_checkpoint(run_dir)
        if ckpt is None:
            raise RlfbError(f"cannot resume: no checkpoint in {run_dir}/checkpoints")
        state = load_state(ckpt)
        self.load_learner(ckpt / "learner")
        self.restore_state(state)
        set_rng_state(state["rng"])
        self.step = state["step"]

    def save(self, step: int) -> Path:
        """Checkpoint after ``step`` steps."""
        return save_checkpoint(self.run_dir, step, self.checkpoint_state(), self.save_learner,
                               keep=self.cfg.run.keep_checkpoints)

    def run(self) -> Path:
        """Train to `total_steps` (from the resumed step); returns the run directory."""
        from tqdm import tqdm

        run, every, total = self.cfg.run, self.cfg.eval.every, self.total_steps
        evaluating = bool(every) and self.can_evaluate()
        if self.step == 0 and evaluating:
            self.log.log(0, self.evaluate(0))
        bar = tqdm(range(self.step + 1, total + 1), initial=self.step, total=total,
                   desc=run.name, unit="step", disable=not run.progress, file=terminal(),
                   dynamic_ncols=True)
        label, key, fmt = self.progress_metric
        try:
            for step in bar:
                metrics = self.train_step(step)
                if evaluating and (step % every == 0 or step == total):
                    metrics.update(self.evaluate(step))
                record = self.log.log(step, metrics)
                bar.set_postfix({label: format(record.get(key) or 0, fmt),
                                 "step_s": f"{record.get('time/step') or 0:.1f}"})
                self.step = step
                if run.save_every and (step % run.save_every == 0 or step == total):
                    self.save(step)
            self.finish()
        finally:
            bar.close()
            self.log.close()
        return self.run_dir
