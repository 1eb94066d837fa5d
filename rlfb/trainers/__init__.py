"""Trainers: the loop that turns a config into a trained model, a run directory and a report.

One skeleton (`rlfb.trainers.base.Trainer`: build → loop → evaluate → checkpoint → report) and
its kinds: `OnlineTrainer` (rollouts, scoring, buffer; `rlfb.trainers.online`), its pipelined
`AsyncTrainer` (``ray.mode: async``; `rlfb.trainers.async_online`) and `OfflineTrainer` (data
files; `rlfb.trainers.offline`). `make_trainer` picks the kind from the config's algorithm and
mode; `train` runs one to the end. `rlfb train` and `rlfb ablate` both go through `train`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, TYPE_CHECKING

from rlfb.algorithms import make_algorithm
from rlfb.trainers.async_online import AsyncTrainer
from rlfb.trainers.base import Trainer
from rlfb.trainers.offline import OfflineTrainer
from rlfb.trainers.online import OnlineTrainer

if TYPE_CHECKING:
    from rlfb.config.schema import TrainConfig


def make_trainer(cfg: TrainConfig, executor: Any = None) -> Trainer:
    """The trainer ``cfg`` asks for: offline for an offline algorithm, else online, pipelined
    with ``ray.mode: async``. ``executor`` (online only) replaces the one ``cfg`` would build."""
    if not make_algorithm(cfg.algo).online:
        return OfflineTrainer(cfg)
    if cfg.ray.mode == "async":
        return AsyncTrainer(cfg, executor)
    return OnlineTrainer(cfg, executor)


def train(cfg: TrainConfig, *, executor: Any = None,
          on_built: Callable[[], None] | None = None) -> tuple[Path, Path]:
    """Build the trainer, run it to the end, release it, write the report; returns
    ``(run directory, report path)``. ``on_built`` runs once the roles are up."""
    trainer = make_trainer(cfg, executor)
    if on_built is not None:
        on_built()
    try:
        run_dir = trainer.run()
    finally:
        trainer.close()
    return run_dir, trainer.write_report(title=cfg.run.name)


__all__ = ["AsyncTrainer", "OfflineTrainer", "OnlineTrainer", "Trainer", "make_trainer", "train"]
