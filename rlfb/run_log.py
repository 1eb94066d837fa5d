"""Run logging: `metrics.jsonl` (one JSON object per step), a tracker's scalars (TensorBoard, W&B;
`rlfb.trackers`), the training samples (`samples.jsonl`) and every held-out completion of every
evaluation (`eval_samples.jsonl`, so any eval figure can be re-derived or re-scored).

A resumed run first cuts these files back to the resumed step, so the files of an
interrupted-then-resumed run read exactly like those of an uninterrupted one.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping

from rlfb.trackers import open_tracker

METRICS_FILE = "metrics.jsonl"
SAMPLES_FILE = "samples.jsonl"
EVAL_SAMPLES_FILE = "eval_samples.jsonl"


def _clean(value: Any) -> Any:
    """Make a metric JSON-safe: tensors/numpy to Python numbers, nan/inf to None."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def truncate_jsonl(path: Path, last_step: int) -> None:
    """Keep only the records of ``path`` whose ``step`` is ≤ ``last_step``."""
    if not path.exists():
        return
    kept = [line for line in path.read_text().splitlines()
            if line.strip() and json.loads(line).get("step", -1) <= last_step]
    path.write_text("".join(line + "\n" for line in kept))


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """All records of a JSON-lines file."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def _append(path: Path, step: int, records: Iterable[Mapping[str, Any]]) -> None:
    with path.open("a") as f:
        for record in records:
            f.write(json.dumps({"step": step, **_clean(dict(record))}, default=str) + "\n")


class MetricsLogger:
    """Writes per-step metrics and periodic samples under ``run_dir``.

    Args:
        run_dir: the run directory.
        resume_step: when resuming, the last step already done; later records are removed.
        tracker: also send the numeric metrics to ``tensorboard`` (``run_dir/tb``), ``wandb``
            or ``none`` (`rlfb.trackers`).
        run_name: the run's name (the W&B run name).
        run_config: the resolved config as a plain dict (the W&B run config).
    """

    def __init__(self, run_dir: str | Path, resume_step: int | None = None,
                 tracker: str = "tensorboard", run_name: str = "rlfb-run",
                 run_config: Mapping[str, Any] | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.metrics_path = self.run_dir / METRICS_FILE
        self.samples_path = self.run_dir / SAMPLES_FILE
        self.eval_samples_path = self.run_dir / EVAL_SAMPLES_FILE
        for path in (self.metrics_path, self.samples_path, self.eval_samples_path):
            if resume_step is None:
                path.unlink(missing_ok=True)
            else:
                truncate_jsonl(path, resume_step)
        self._tracker = open_tracker(tracker, self.run_dir, resume_step, run_name, run_config)

    def log(self, step: int, metrics: Mapping[str, Any]) -> dict[str, Any]:
        """Append one step's metrics; returns the record written."""
        record = {"step": step, **_clean(dict(metrics))}
        with self.metrics_path.open("a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
        if self._tracker is not None:
            self._tracker.log(step, {k: v for k, v in record.items() if k != "step" and
                                     isinstance(v, (int, float)) and not isinstance(v, bool)})
        return record

    def log_samples(self, step: int, samples: Iterable[Mapping[str, Any]]) -> None:
        """Append sample records (prompt, completion, reward parts, evidence) for ``step``."""
        _append(self.samples_path, step, samples)

    def log_eval_samples(self, step: int, samples: Iterable[Mapping[str, Any]]) -> None:
        """Append the held-out records of the evaluation after ``step`` (prompt and its fields,
        completion, verdict, reward and its parts)."""
        _append(self.eval_samples_path, step, samples)

    def close(self) -> None:
        """Flush and close the tracker."""
        if self._tracker is not None:
            self._tracker.close()
            self._tracker = None
