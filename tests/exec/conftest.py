"""Shared pieces of the executor tests: the tiny seeded run config and run helpers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

# Reward: the completion contains a digit (as in tests/test_loop.py): a random tiny model does
# so in some samples and not others, so groups carry signal.
DIGIT = {"mode": "regex", "pattern": "[0-9]", "match": "search"}
# Executor-only figures: role metrics, sync timings and the staleness histogram exist only on
# Ray; wall-clock figures differ between any two runs.
EXECUTOR_KEYS = ("ray/", "sync/", "staleness/")
TIMING_KEYS = ("time/", "perf/", "learner/update_s")
# Small enough for a 2-core machine shared by a whole test session.
RAY_SMALL = ["run.executor=ray", "ray.learner.num_cpus=0.5", "ray.rollout.num_cpus=0.5",
             "ray.reward.num_cpus=0.25", "ray.startup_timeout_s=300"]


def tiny_config(out: Path, *overrides: str) -> Any:
    """The seeded tiny-model GRPO config of the loop tests, writing to ``out``."""
    from rlfb.config import load_config

    base = [
        f"run.output_dir={out}", "run.name=tiny", "run.steps=4", "run.seed=0",
        "run.save_every=2", "run.samples_every=1", "run.progress=false",
        "run.tracker=none", "model.path=tiny:0",
        "data.source=reasoning_gym", "data.options={task: basic_arithmetic, size: 200, seed: 0}",
        "data.prompts_per_step=4", "data.eval_prompts=8",
        "rollout.engine=hf", "rollout.n=4", "rollout.max_new_tokens=12",
        "reward.name=verifier",
        f"reward.options={json.dumps({'verifier': 'format', 'options': DIGIT})}",
        "learner.lr=3e-3", "learner.micro_batch_size=8",
        "eval.every=2", "eval.verifier=format", f"eval.verifier_options={json.dumps(DIGIT)}",
    ]
    return load_config(None, [*base, *overrides])


def train(cfg: Any, executor: Any = None) -> list[dict]:
    """Run ``cfg`` to the end; the metrics records."""
    from rlfb.trainers import make_trainer
    from rlfb.run_log import read_jsonl

    trainer = make_trainer(cfg, executor)
    try:
        run_dir = trainer.run()
    finally:
        trainer.close()
    return read_jsonl(Path(run_dir) / "metrics.jsonl")


def comparable(records: list[dict], drop: tuple[str, ...] = EXECUTOR_KEYS) -> list[dict]:
    """Records without wall-clock figures and without the ``drop`` prefixes."""
    skip = TIMING_KEYS + drop
    return [{k: v for k, v in r.items() if not k.startswith(skip)} for r in records]


def prompt_counts(run_dir: Path) -> dict[str, int]:
    """How many samples of each prompt id the run trained on (from samples.jsonl)."""
    from collections import Counter

    from rlfb.run_log import read_jsonl

    return dict(Counter(r["prompt_id"] for r in read_jsonl(run_dir / "samples.jsonl")))


@pytest.fixture(scope="module")
def local_reference(tmp_path_factory) -> list[dict]:
    """The tiny run on the local executor (the trajectory Ray runs must reproduce)."""
    return train(tiny_config(tmp_path_factory.mktemp("local") / "run"))


class Kit:
    """The helpers above, served as a fixture (tests run with ``--import-mode=importlib``, so a
    test module cannot import this conftest)."""

    RAY_SMALL = RAY_SMALL
    EXECUTOR_KEYS = EXECUTOR_KEYS
    tiny_config = staticmethod(tiny_config)
    train = staticmethod(train)
    comparable = staticmethod(comparable)
    prompt_counts = staticmethod(prompt_counts)


@pytest.fixture(scope="session")
def kit() -> type[Kit]:
    """Config and run helpers of the executor tests."""
    return Kit
