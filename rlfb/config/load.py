"""Loading, resolving, checking and saving a `TrainConfig`.

``load_config(path, overrides)`` reads YAML, applies ``section.key=value`` overrides, builds the
typed config, fills the derived defaults (`resolve`) and checks ranges and combinations
(`validate`). ``save_config`` writes the resolved config; loading that file gives an equal
config.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from rlfb.algorithms import get_algorithm, make_algorithm
from rlfb.config.checks import check_async_mode, check_group_size, check_learner_group
from rlfb.config.coerce import apply_override, build, parse_override
from rlfb.config.schema import TrainConfig
from rlfb.errors import ConfigError



def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> TrainConfig:
    """The resolved, checked config of YAML file ``path`` (None: the defaults) with dotted
    ``overrides`` such as ``"algo.kl_coef=0.01"`` (values read as YAML: lists, null ... work)."""
    data: dict[str, Any] = {}
    if path is not None:
        data = read_yaml(Path(path))
    for text in overrides:
        parts, value = parse_override(text)
        apply_override(data, TrainConfig, parts, value)
    return config_from_dict(data)


def read_yaml(path: Path, what: str = "config file",
              shape: str = "a mapping of sections (run:, model: ...)") -> dict[str, Any]:
    """A YAML file's top-level mapping (an empty file is an empty mapping): the one reader of
    rlfb's YAML files (training configs, sweeps, reward specs). ``what`` names the file and
    ``shape`` what it must hold, in the one-line errors."""
    if not path.is_file():
        raise ConfigError(f"{what} not found: {str(path)!r}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {' '.join(str(exc).split())}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold {shape}, got {type(data).__name__}")
    return data


def config_from_dict(data: Mapping[str, Any]) -> TrainConfig:
    """A resolved, checked config from plain nested data."""
    cfg = build(TrainConfig, dict(data))
    resolve(cfg)
    validate(cfg)
    return cfg


def config_to_dict(cfg: TrainConfig) -> dict[str, Any]:
    """Plain nested data (tuples as lists), ready for YAML or JSON."""
    return _plain(dataclasses.asdict(cfg))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def save_config(cfg: TrainConfig, path: str | Path) -> Path:
    """Write ``cfg`` as YAML to ``path`` (folders created); `load_config` reads it back equal."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False, allow_unicode=True))
    return path


def resolve(cfg: TrainConfig) -> None:
    """Fill the defaults that depend on other fields (idempotent)."""
    if cfg.run.output_dir is None:
        cfg.run.output_dir = f"runs/{cfg.run.name}"
    a = cfg.algo
    if a.advantage is None:  # the estimator the algorithm uses by default (None: it has none)
        a.advantage = get_algorithm(a.name).advantage
    if a.advantage == "grpo":
        given = a.advantage_options.setdefault("normalize_std", a.normalize_std)
        if given != a.normalize_std:
            raise ConfigError(f"algo.normalize_std={a.normalize_std} contradicts "
                              f"algo.advantage_options.normalize_std={given}; set one of them")
    elif not a.normalize_std:
        raise ConfigError(f"algo.normalize_std=false applies to the grpo estimator only, not "
                          f"{a.advantage!r}; for Dr.GRPO set algo.advantage=dr_grpo")
    if cfg.eval.max_new_tokens is None:
        cfg.eval.max_new_tokens = cfg.rollout.max_new_tokens
    if cfg.env.name is not None:  # its prompts and reward, where the config sets none
        from rlfb.environments.episodes import resolve_env_defaults

        resolve_env_defaults(cfg)


def validate(cfg: TrainConfig) -> None:
    """Run the checks that span sections, once, after the defaults are resolved (each section
    checked its own ranges when it was built): the algorithm's (`Algorithm.check`) and the
    cross-field ones of `rlfb.config.checks`."""
    check_group_size(cfg)
    algorithm = make_algorithm(cfg.algo)
    algorithm.check(cfg)
    if cfg.ray.learner.count > 1:
        check_learner_group(cfg, algorithm.data_parallel)
    if cfg.ray.mode == "async":
        check_async_mode(cfg)
