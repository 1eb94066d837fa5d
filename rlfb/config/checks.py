"""Config checks: a field's bounds (`check_range`, run as each section is built) and the
cross-field checks of a mode (`check_async_mode`), run by `rlfb.config.validate` when the config
loads. An algorithm's own checks are `rlfb.algorithms.Algorithm.check`, run there too."""

from __future__ import annotations

import warnings
from typing import Any

from rlfb.errors import ConfigError


def check_range(ok: bool, message: str) -> None:
    """Raise `ConfigError` with ``message`` unless ``ok`` (a field's own bounds)."""
    if not ok:
        raise ConfigError(message)


#: Advantage estimators that compare the samples of a group with each other.
GROUP_ESTIMATORS = {"grpo", "dr_grpo", "rloo", "reinforce_pp_baseline"}


def check_group_size(cfg: Any) -> None:
    """A group estimator needs at least two samples per prompt."""
    if cfg.algo.advantage in GROUP_ESTIMATORS and cfg.rollout.n < 2:
        raise ConfigError(f"algo.advantage={cfg.algo.advantage!r} compares samples within a "
                          f"group, so rollout.n must be >= 2 (got {cfg.rollout.n})")


def check_learner_group(cfg: Any, data_parallel: bool) -> None:
    """`ConfigError` when ``ray.learner.count > 1`` cannot run: the group is Ray actors, it runs
    the policy learner only (``data_parallel``: the algorithm's `Algorithm.data_parallel`),
    and FSDP does not shard LoRA adapters."""
    count = cfg.ray.learner.count
    if cfg.run.executor != "ray":
        raise ConfigError(f"ray.learner.count={count} starts learner actors; set "
                          "run.executor=ray (the local executor runs one learner)")
    if not data_parallel:
        raise ConfigError(f"ray.learner.count={count}: algo.name={cfg.algo.name} trains its "
                          "own learner in one process; data-parallel groups run the policy "
                          "learner (grpo, rloo, reinforce_pp, ...); set ray.learner.count=1")
    if cfg.learner.strategy == "fsdp" and cfg.model.lora.enabled:
        raise ConfigError("learner.strategy=fsdp does not shard LoRA adapters (they are small); "
                          "use learner.strategy=ddp with model.lora.enabled")


def check_async_mode(cfg: Any) -> None:
    """`ConfigError` when the config cannot run with ``ray.mode: async``; a warning when its
    stale samples go uncorrected (no ``algo.tis_cap``)."""
    depth, limit = cfg.ray.async_depth, cfg.buffer.max_staleness
    if limit is not None and limit < depth:
        raise ConfigError(f"ray.mode=async trains on samples ray.async_depth={depth} weight "
                          f"versions old, but buffer.max_staleness={limit} drops them; set "
                          f"buffer.max_staleness >= {depth} (or null)")
    if cfg.run.executor != "ray":
        raise ConfigError("ray.mode=async needs run.executor=ray (the local executor runs one "
                          "role at a time)")
    if cfg.algo.tis_cap is None:
        warnings.warn("ray.mode=async without algo.tis_cap: samples up to "
                      f"{depth} versions stale are trained on without importance correction; "
                      "set algo.tis_cap (e.g. 2.0)", stacklevel=3)
