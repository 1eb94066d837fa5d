"""Per-role metrics of the Ray executor: busy time, utilisation, waits, queues, faults, staleness.

Metrics are deltas since the previous collection (one per step), keyed ``ray/<role>/<name>``:

- ``busy_s``: seconds the role's actors spent inside role calls (summed over actors);
- ``utilization``: ``busy_s / (wall seconds * actors)``;
- ``wait_s``: seconds the controller spent waiting for the role's results;
- ``in_flight``: calls submitted and not yet collected (a queue depth; > 0 in async mode);
- ``retries`` / ``restarts``: cumulative jobs retried and actor restarts recovered;
- ``peak_rss_gb``: the largest peak resident memory of the role's actors (each actor process's
  peak since it started), and ``cuda_max_allocated_gb``, torch's peak CUDA allocation, for
  actors that use CUDA (`rlfb.device.role_memory`).

``staleness/<k>`` counts the batch's samples generated ``k`` weight versions before the learner's
current version, with ``staleness/mean`` and ``staleness/max``.
"""

from __future__ import annotations

import time
from typing import Any

STATS_OPTIONS = {"concurrency_group": "control"}


def staleness_metrics(weight_versions: Any, current: int) -> dict[str, float]:
    """Histogram of ``current - v`` over the samples' weight versions (None: no metrics).

    >>> import torch
    >>> staleness_metrics(torch.tensor([3, 3, 2]), 3)
    {'staleness/0': 2.0, 'staleness/1': 1.0, 'staleness/mean': 0.3333333333333333, 'staleness/max': 1.0}
    """
    if weight_versions is None or len(weight_versions) == 0:
        return {}
    ages = [current - int(v) for v in weight_versions]
    out = {f"staleness/{k}": float(ages.count(k)) for k in sorted(set(ages))}
    out["staleness/mean"] = sum(ages) / len(ages)
    out["staleness/max"] = float(max(ages))
    return out


def _peak_memory(role: str, stats: list[dict[str, Any]]) -> dict[str, float]:
    """``ray/<role>/<figure>``: the largest of each memory figure over the role's actors.

    >>> _peak_memory("rollout", [{"memory": {"peak_rss_gb": 2.0}}, {"memory": {"peak_rss_gb": 3.5}}])
    {'ray/rollout/peak_rss_gb': 3.5}
    """
    out: dict[str, float] = {}
    for s in stats:
        for name, value in s.get("memory", {}).items():
            key = f"ray/{role}/{name}"
            out[key] = max(out.get(key, 0.0), float(value))
    return out


class RoleMetrics:
    """Turns cumulative actor counters into per-step deltas (restarts reset an actor's
    counters; the delta of a restarted actor is its new total)."""

    def __init__(self) -> None:
        self._last_busy: dict[tuple[str, int], float] = {}
        self._waits: dict[str, float] = {}
        self._last_time = time.perf_counter()

    def add_wait(self, role: str, seconds: float) -> None:
        """Count ``seconds`` the controller waited on ``role``."""
        self._waits[role] = self._waits.get(role, 0.0) + seconds

    def _busy(self, role: str, stats: list[dict[str, Any]]) -> float:
        total = 0.0
        for i, s in enumerate(stats):
            last = self._last_busy.get((role, i), 0.0)
            now = float(s["busy_s"])
            total += now - last if now >= last else now
            self._last_busy[(role, i)] = now
        return total

    def collect(self, pools: dict[str, Any], learner: Any) -> dict[str, float]:
        """Metrics since the last call, for the role pools and the learner."""
        import ray

        now = time.perf_counter()
        wall = max(now - self._last_time, 1e-9)
        self._last_time = now
        out: dict[str, float] = {}
        roles = {name: (pool.stats(), pool) for name, pool in pools.items()}
        try:
            roles["learner"] = ([ray.get(learner.stats.options(**STATS_OPTIONS).remote(),
                                         timeout=30)], None)
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            roles["learner"] = ([], None)
        for role, (stats, pool) in roles.items():
            busy = self._busy(role, stats)
            out[f"ray/{role}/busy_s"] = busy
            out[f"ray/{role}/utilization"] = busy / (wall * max(1, len(stats)))
            out.update(_peak_memory(role, stats))
            if pool is not None:
                out[f"ray/{role}/wait_s"] = self._waits.pop(role, 0.0)
                out[f"ray/{role}/in_flight"] = float(pool.in_flight)
                out[f"ray/{role}/retries"] = float(pool.retries)
                out[f"ray/{role}/restarts"] = float(pool.recoveries)
        return out
