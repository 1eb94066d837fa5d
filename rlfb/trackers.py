"""Experiment trackers: where a run's per-step scalars go besides `metrics.jsonl`.

``run.tracker`` picks one: ``tensorboard`` (the default: event files in ``RUN_DIR/tb``),
``wandb`` (Weights & Biases through its own package and environment variables) or ``none``.
`metrics.jsonl` is always written (`rlfb.run_log.MetricsLogger`); a tracker only mirrors it.

W&B reads its usual environment: ``WANDB_MODE=offline`` writes the run to disk with no network
(``wandb sync`` uploads it later), ``WANDB_PROJECT`` names the project (default ``rlfb``),
``WANDB_DIR`` where its files go (default: the run directory, so they live beside the metrics),
``WANDB_API_KEY`` / ``wandb login`` authenticate online runs. A resumed run continues the same
W&B run: its id is kept in ``RUN_DIR/wandb-run-id``. W&B names each part's directory by its
start second and run id, and a part started in the same second as the last one would land in
that directory and lose its history, so a resumed run waits for the next second when it must.
"""

from __future__ import annotations

import os
import secrets
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping, Protocol

from rlfb.errors import ConfigError

TRACKERS = ("tensorboard", "wandb", "none")
WANDB_ID_FILE = "wandb-run-id"


class Tracker(Protocol):
    """Receives each step's numeric scalars."""

    def log(self, step: int, scalars: Mapping[str, float]) -> None:
        """Record ``scalars`` at ``step``."""

    def close(self) -> None:
        """Flush and release the tracker."""


class TensorBoardTracker:
    """TensorBoard event files under ``RUN_DIR/tb``; a resume purges events after its step."""

    def __init__(self, run_dir: Path, resume_step: int | None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(str(run_dir / "tb"), purge_step=
                                     None if resume_step is None else resume_step + 1)

    def log(self, step: int, scalars: Mapping[str, float]) -> None:
        """Add one scalar per key and flush, so a crashed run keeps its curves."""
        for key, value in scalars.items():
            self._writer.add_scalar(key, value, step)
        self._writer.flush()

    def close(self) -> None:
        """Close the event file."""
        self._writer.close()


class WandbTracker:
    """A W&B run named after ``run.name`` with the resolved config (module docstring)."""

    def __init__(self, run_dir: Path, resume_step: int | None, run_name: str,
                 run_config: Mapping[str, Any] | None) -> None:
        try:
            import wandb
        except ImportError:
            raise ConfigError("run.tracker=wandb needs the wandb package: pip install "
                              "'rlfb[wandb]' (or use run.tracker=tensorboard)") from None
        id_file = run_dir / WANDB_ID_FILE
        if resume_step is not None and id_file.is_file():
            run_id = id_file.read_text().strip()
        else:
            run_id = secrets.token_hex(4)  # W&B ids: lowercase letters and digits
            id_file.write_text(run_id + "\n")
        wandb_dir = os.environ.get("WANDB_DIR") or str(run_dir)
        wait_for_a_new_part_dir(Path(wandb_dir) / "wandb", run_id)
        self._run = wandb.init(
            project=os.environ.get("WANDB_PROJECT") or "rlfb", name=run_name, id=run_id,
            resume="allow", dir=wandb_dir,
            config=dict(run_config or {}),
            # rlfb's console owns the terminal: no stdout capture, no banner lines
            settings=wandb.Settings(console="off", silent=True))

    def log(self, step: int, scalars: Mapping[str, float]) -> None:
        """Log ``scalars`` at W&B step ``step``."""
        self._run.log(dict(scalars), step=step)

    def close(self) -> None:
        """Finish the run (offline: its files are complete on disk)."""
        self._run.finish()


def wait_for_a_new_part_dir(root: Path, run_id: str) -> None:
    """Sleep until no part of W&B run ``run_id`` under ``root`` is named by the current second.

    W&B names a part's files ``(offline-)run-YYYYmmdd_HHMMSS-ID`` by its local start second; a
    resumed part started within the second of an earlier one would share its directory, and W&B
    would keep only the earlier part's history (seen on a fast machine)."""
    while any(root.glob(f"*-{datetime.now().strftime('%Y%m%d_%H%M%S')}-{run_id}")):
        time.sleep(0.05)


def open_tracker(name: str, run_dir: Path, resume_step: int | None = None,
                 run_name: str = "rlfb-run",
                 run_config: Mapping[str, Any] | None = None) -> Tracker | None:
    """The tracker ``name`` for ``run_dir`` (None for ``none``)."""
    if name == "tensorboard":
        return TensorBoardTracker(run_dir, resume_step)
    if name == "wandb":
        return WandbTracker(run_dir, resume_step, run_name, run_config)
    if name == "none":
        return None
    raise ConfigError(f"run.tracker={name!r} is unknown; use one of {', '.join(TRACKERS)}")
