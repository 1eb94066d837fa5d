"""Reward-model training as an offline algorithm (``algo.name: reward_model``).

A scalar reward model is fitted to preference pairs with the Bradley-Terry loss
(`rlfb.learner.reward_model.RewardModelLearner`), from the same config as every other run:
``model.path`` is the model to start from, ``offline.files`` / ``offline.eval_files`` /
``offline.holdout`` the pairs (columns ``offline.fields.prompt``, ``chosen``, ``rejected`` and
optionally ``margin``), ``offline.batch_size`` pairs per step for ``offline.epochs`` epochs,
``offline.max_length`` tokens per rendered (prompt, completion), and the optimiser from
``learner``. Its one option, ``algo.options.template`` ("auto", "chat" or "concat"), is how a
pair is rendered (`rlfb.models.reward_model`).

Held out: ``eval/loss``, ``eval/pair_accuracy`` (the chosen completion scored higher; ties count
as wrong), ``eval/reward_margin``. At the end the model is written to ``RUN_DIR/reward_model``
in HF format with its metadata: the folder the ``reward_model`` reward takes as ``path``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TYPE_CHECKING

from rlfb.algorithms.base import OfflineAlgorithm, device_settings
from rlfb.errors import ConfigError
from rlfb.models.reward_model import TEMPLATES

if TYPE_CHECKING:
    from rlfb.config.schema import AlgoConfig, TrainConfig

#: Where the trained reward model is exported, inside the run directory.
EXPORT_DIR = "reward_model"


class RewardModel(OfflineAlgorithm):
    """Bradley-Terry reward-model training on (prompt, chosen, rejected) pairs.

    Args:
        settings: the config's ``algo`` section.
        template: how a (prompt, completion) is rendered: "auto", "chat" or "concat".
    """

    def __init__(self, settings: AlgoConfig, template: str = "auto") -> None:
        super().__init__(settings)
        if template not in TEMPLATES:
            raise ConfigError(f"algo.options.template={template!r} must be one of "
                              f"{', '.join(TEMPLATES)}")
        self.template = template

    def check(self, cfg: TrainConfig) -> None:
        """Offline data, and no policy-gradient settings that would be ignored."""
        super().check(cfg)
        if cfg.algo.advantage is not None or cfg.algo.kl_coef:
            raise ConfigError("algo.name=reward_model fits a classifier to pairs: leave "
                              "algo.advantage unset and algo.kl_coef at 0")

    def load_rows(self, files: list[str], encoder: Any, fmt: str) -> list[Any]:
        """Pairs as text (`rlfb.data.records.load_text_pairs`): the learner renders them."""
        from rlfb.data.records import load_text_pairs

        return load_text_pairs(files, encoder.fields, fmt)

    def learner(self, cfg: TrainConfig, model_path: str, total_steps: int) -> Any:
        """A `RewardModelLearner` on ``model.path``."""
        from rlfb.learner.reward_model import RewardModelLearner

        le = cfg.learner
        return RewardModelLearner(
            model_path, template=self.template, max_length=cfg.offline.max_length, lr=le.lr,
            weight_decay=le.weight_decay, betas=tuple(le.betas), max_grad_norm=le.max_grad_norm,
            warmup_steps=le.warmup_steps, lr_schedule=le.lr_schedule, total_steps=total_steps,
            micro_batch_size=le.micro_batch_size, dtype=cfg.model.dtype, seed=cfg.run.seed,
            **device_settings(cfg))

    def batch(self, rows: list[Any], pad_token_id: int, reference: Any = None) -> Any:
        """The pairs themselves."""
        return rows

    def eval_metrics(self, sums: dict[str, float]) -> dict[str, Any]:
        """Per-pair means of the learner's sums."""
        pairs = max(sums["pairs"], 1.0)
        return {"eval/loss": sums["loss"] / pairs,
                "eval/pair_accuracy": sums["reward_accuracy"] / pairs,
                "eval/reward_margin": sums["reward_margin"] / pairs, "eval/pairs": pairs}

    def finish(self, learner: Any, run_dir: Path) -> None:
        """Export the trained model to ``RUN_DIR/reward_model``."""
        learner.export(run_dir / EXPORT_DIR)
