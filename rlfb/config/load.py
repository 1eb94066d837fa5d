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
from rlfb.config.checks import check_async_mode
from rlfb.config.coerce import apply_override, build, parse_override
from rlfb.config.schema import TrainConfig
from rlfb.errors import ConfigError

GROUP_ESTIMATORS = {"grpo", "dr_grpo", "rloo", "reinforce_pp_baseline"}


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


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML file's top-level mapping (an empty file is an empty mapping)."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {str(path)!r}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {' '.join(str(exc).split())}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of sections (run:, model: ...), "
                          f"got {type(data).__name__}")
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


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def validate(cfg: TrainConfig) -> None:
    """Raise `ConfigError` for the first out-of-range value or contradictory combination."""
    _validate_run_model_data(cfg)
    _validate_rollout_algo(cfg)
    _validate_learner_rest(cfg)
    make_algorithm(cfg.algo).check(cfg)
    if cfg.ray.mode == "async":
        check_async_mode(cfg)


def _validate_run_model_data(cfg: TrainConfig) -> None:
    r, m, d = cfg.run, cfg.model, cfg.data
    _check(r.steps >= 0, f"run.steps must be >= 0, got {r.steps}")
    for name in ("log_every",):
        _check(getattr(r, name) >= 1, f"run.{name} must be >= 1, got {getattr(r, name)}")
    for name in ("save_every", "samples_every"):
        _check(getattr(r, name) >= 0, f"run.{name} must be >= 0 (0 = never), "
                                      f"got {getattr(r, name)}")
    _check(r.keep_checkpoints is None or r.keep_checkpoints >= 1,
           f"run.keep_checkpoints must be >= 1 or null (keep all), got {r.keep_checkpoints}")
    if m.path == "tiny" or m.path.startswith("tiny:"):
        seed = m.path.partition(":")[2]
        _check(seed == "" or seed.isdigit(),
               f"model.path {m.path!r}: write tiny:<seed> with an integer seed, e.g. tiny:0")
    _check(m.path != "", "model.path is empty; give an HF folder, smollm2-135m-instruct or tiny:0")
    lo = m.lora
    _check(lo.rank >= 1, f"model.lora.rank must be >= 1, got {lo.rank}")
    _check(lo.alpha > 0, f"model.lora.alpha must be > 0, got {lo.alpha}")
    _check(0 <= lo.dropout < 1, f"model.lora.dropout must be in [0, 1), got {lo.dropout}")
    _check(not lo.enabled or bool(lo.target_modules),
           "model.lora.target_modules is empty; name the modules that get adapters")
    _check(d.prompts_per_step >= 1, f"data.prompts_per_step must be >= 1, got "
                                    f"{d.prompts_per_step}")
    _check(d.eval_prompts >= 0, f"data.eval_prompts must be >= 0, got {d.eval_prompts}")
    _check(d.eval_source is not None or not d.eval_options,
           "data.eval_options is set but data.eval_source is not; set data.eval_source")


def _validate_rollout_algo(cfg: TrainConfig) -> None:
    ro, a = cfg.rollout, cfg.algo
    _check(ro.n >= 1, f"rollout.n must be >= 1, got {ro.n}")
    _check(ro.max_new_tokens >= 1, f"rollout.max_new_tokens must be >= 1, got {ro.max_new_tokens}")
    _check(ro.temperature >= 0, f"rollout.temperature must be >= 0, got {ro.temperature}")
    _check(0 < ro.top_p <= 1, f"rollout.top_p must be in (0, 1], got {ro.top_p}")
    _check(ro.top_k == -1 or ro.top_k >= 1, f"rollout.top_k must be -1 (off) or >= 1, "
                                            f"got {ro.top_k}")
    _check(a.advantage not in GROUP_ESTIMATORS or ro.n >= 2,
           f"algo.advantage={a.advantage!r} compares samples within a group, so rollout.n "
           f"must be >= 2 (got {ro.n})")
    _check(a.clip_low >= 0 and a.clip_high >= 0,
           f"algo.clip_low and algo.clip_high must be >= 0, got {a.clip_low}, {a.clip_high}")
    _check(a.clip_low < 1, f"algo.clip_low must be < 1 (the ratio floor is 1 - clip_low), "
                           f"got {a.clip_low}")
    _check(a.kl_coef >= 0, f"algo.kl_coef must be >= 0, got {a.kl_coef}")
    _check(a.ppo_epochs >= 1, f"algo.ppo_epochs must be >= 1, got {a.ppo_epochs}")
    _check(a.tis_cap is None or a.tis_cap > 0, f"algo.tis_cap must be > 0 or null (off), "
                                               f"got {a.tis_cap}")


def _validate_learner_rest(cfg: TrainConfig) -> None:
    le, b, e = cfg.learner, cfg.buffer, cfg.eval
    _check(le.lr > 0, f"learner.lr must be > 0, got {le.lr}")
    _check(le.weight_decay >= 0, f"learner.weight_decay must be >= 0, got {le.weight_decay}")
    _check(all(0 <= beta < 1 for beta in le.betas),
           f"learner.betas must be in [0, 1), got {list(le.betas)}")
    _check(le.max_grad_norm > 0, f"learner.max_grad_norm must be > 0, got {le.max_grad_norm}")
    _check(le.micro_batch_size >= 1, f"learner.micro_batch_size must be >= 1, "
                                     f"got {le.micro_batch_size}")
    _check(le.warmup_steps >= 0, f"learner.warmup_steps must be >= 0, got {le.warmup_steps}")
    _check(b.max_staleness is None or b.max_staleness >= 0,
           f"buffer.max_staleness must be >= 0 or null (no limit), got {b.max_staleness}")
    _check(b.max_refill_rounds >= 0, f"buffer.max_refill_rounds must be >= 0, "
                                     f"got {b.max_refill_rounds}")
    _check(e.every >= 0, f"eval.every must be >= 0 (0 = never), got {e.every}")
    _check(e.k >= 1, f"eval.k must be >= 1, got {e.k}")
    _check(e.temperature >= 0, f"eval.temperature must be >= 0, got {e.temperature}")
    _check(not e.greedy or e.k == 1, f"eval.greedy decodes one answer per prompt, so eval.k "
                                     f"must be 1 (got {e.k})")
    _check(e.max_new_tokens is None or e.max_new_tokens >= 1,
           f"eval.max_new_tokens must be >= 1, got {e.max_new_tokens}")
    for role in ("rollout", "learner", "reward"):
        res = getattr(cfg.ray, role)
        _check(res.count >= 1 and res.num_cpus >= 0 and res.num_gpus >= 0,
               f"ray.{role}: count must be >= 1 and num_cpus, num_gpus >= 0, got {res}")
