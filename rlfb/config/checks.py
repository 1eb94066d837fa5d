"""Config checks: a field's bounds (`check_range`, run as each section is built), and one
algorithm's settings, run by `rlfb.config.validate` when ``algo.name`` selects it (so a bad
combination fails when the config loads, before any model is built)."""

from __future__ import annotations

from typing import Any

from rlfb.errors import ConfigError


def check_range(ok: bool, message: str) -> None:
    """Raise `ConfigError` with ``message`` unless ``ok`` (a field's own bounds)."""
    if not ok:
        raise ConfigError(message)


def check_ppo(cfg: Any) -> None:
    """Raise `ConfigError` for settings that PPO with a critic cannot honour."""
    if cfg.algo.advantage is not None:
        raise ConfigError(f"algo.advantage={cfg.algo.advantage!r} does not apply to ppo (GAE "
                          "with the critic makes the advantages); remove it")
    if cfg.ppo.kl_control == "adaptive" and cfg.algo.kl_coef <= 0:
        raise ConfigError("ppo.kl_control=adaptive scales algo.kl_coef, which is 0; set "
                          "algo.kl_coef to the starting coefficient (e.g. 0.05)")


def check_online_dpo(cfg: Any) -> None:
    """Raise `ConfigError` for settings that online DPO cannot honour."""
    if cfg.rollout.n < 2:
        raise ConfigError(f"online_dpo ranks several completions per prompt, so rollout.n must "
                          f"be >= 2 (got {cfg.rollout.n})")
    if cfg.algo.advantage is not None:
        raise ConfigError(f"algo.advantage={cfg.algo.advantage!r} does not apply to online_dpo "
                          "(pairs replace advantages); remove it")
    if cfg.algo.ppo_epochs != 1 or cfg.algo.kl_coef:
        raise ConfigError("online_dpo takes one DPO step per batch and its KL control is "
                          "dpo.beta; leave algo.ppo_epochs=1 and algo.kl_coef=0")


ALGORITHM_CHECKS = {"ppo": check_ppo, "online_dpo": check_online_dpo}
