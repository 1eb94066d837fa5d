"""GRPO and PPO through multi-turn rollouts on the tiny model, with the local and Ray executors
(sync and async): the whole loop trains on trajectories with environment tokens inside."""

from __future__ import annotations

import json
import math
import sys
from functools import partial
from pathlib import Path
from typing import ClassVar

import pytest

from rlfb.config import load_config
from rlfb.environments import register_environment
from rlfb.environments.base import Environment, EpisodeState, StepResult
from rlfb.run_log import read_jsonl
from rlfb.trainers import make_trainer

DIGIT = {"mode": "regex", "pattern": "[0-9]", "match": "search"}


class Again(Environment):
    """Answers every assistant turn but the last with a user message, so every episode of a
    model that stops its turns has several turns (a random model calls no tools)."""

    name: ClassVar[str] = "test-again"

    def __init__(self, max_turns: int = 3, max_tokens: int = 60) -> None:
        self.max_turns, self.max_tokens, self.tools = max_turns, max_tokens, ()

    def respond(self, state: EpisodeState, assistant_message: str) -> StepResult:
        return StepResult([{"role": "user", "content": "Again, with a number."}], False)


register_environment("test-again", Again)


def again_engine(model_path: str):
    """The engine factory of a Ray rollout actor running `Again` episodes (the environment
    travels by value: a Ray worker cannot resolve a test's registry name)."""
    from rlfb.environments.episodes import EpisodeEngine
    from rlfb.environments.formats import get_tool_format
    from rlfb.rollout import get_engine

    engine = get_engine("hf", model_path)
    return EpisodeEngine(engine, Again(), get_tool_format("tags", engine.tokenizer))


def config(out: Path, model: Path, *overrides: str):
    base = [
        f"run.output_dir={out}", "run.name=mt", "run.steps=2", "run.seed=0",
        "run.save_every=0", "run.samples_every=1", "run.progress=false", "run.tracker=none",
        f"model.path={model}",
        "data.source=reasoning_gym", "data.options={task: basic_arithmetic, size: 200, seed: 0}",
        "data.prompts_per_step=3", "data.eval_prompts=4",
        "env.name=test-again", "env.max_turns=3", "env.max_tokens=60",
        "rollout.engine=hf", "rollout.n=4", "rollout.max_new_tokens=16",
        "reward.name=verifier",
        f"reward.options={json.dumps({'verifier': 'format', 'options': DIGIT})}",
        "learner.lr=2e-4", "learner.micro_batch_size=6",
        "eval.every=2", "eval.verifier=format", f"eval.verifier_options={json.dumps(DIGIT)}",
    ]
    return load_config(None, [*base, *overrides])


def train(cfg, executor=None) -> list[dict]:
    trainer = make_trainer(cfg, executor)
    try:
        run_dir = trainer.run()
    finally:
        trainer.close()
    return read_jsonl(Path(run_dir) / "metrics.jsonl")


def check_multiturn_run(records: list[dict], run: Path) -> None:
    steps = [r for r in records if r["step"] > 0]
    assert len(steps) == 2
    assert steps[0]["rollout/turns"] > 2  # most episodes have several turns
    for r in steps:
        assert r["rollout/turns"] > 1
        assert 0 < r["rollout/masked_token_frac"] < 1
        assert r["rollout/tool_calls"] == 0 and r["rollout/tool_errors"] == 0
        assert math.isfinite(r["learner/loss"]) and r["learner/grad_norm"] > 0
    assert "eval/turns" in records[0] and "eval/turns" in records[-1]
    samples = read_jsonl(run / "samples.jsonl")
    assert len(samples) == 2 * 3 * 4
    for s in samples:
        roles = [m["role"] for m in s["messages"]]
        assert roles[-1] == "assistant" and roles.count("assistant") == s["episode"]["turns"]
        assert s["completion"] == s["messages"][-1]["content"]
    assert any(s["episode"]["turns"] == 3 for s in samples)


@pytest.mark.parametrize("algo", ["grpo", "ppo"])
def test_local_run_trains_on_multiturn_rollouts(tmp_path, stopping_model, algo):
    overrides = [f"algo.name={algo}"] + (["ppo.mini_batches=2"] if algo == "ppo" else [])
    records = train(config(tmp_path / "run", stopping_model, *overrides))
    check_multiturn_run(records, tmp_path / "run")
    if algo == "ppo":
        assert all(math.isfinite(r["ppo/values_mean"]) for r in records if r["step"] > 0)


def test_single_turn_environment_equals_no_environment(tmp_path, stopping_model):
    """env.name=single-turn runs through the episode runner and gives exactly the run without
    an env section (same samples, same updates), plus the episode metrics."""
    plain = train(config(tmp_path / "plain", stopping_model, "env.name=null",
                         "env.max_turns=null", "env.max_tokens=null"))
    single = train(config(tmp_path / "single", stopping_model, "env.name=single-turn",
                          "env.max_turns=null", "env.max_tokens=1000"))
    skip = ("time/", "perf/", "learner/update_s", "rollout/", "eval/turns", "eval/tool",
            "eval/malformed", "eval/truncated", "eval/masked")
    strip = [{k: v for k, v in r.items() if not k.startswith(skip)} for r in single]
    assert strip == [{k: v for k, v in r.items() if not k.startswith(skip)} for r in plain]
    assert all(r["rollout/turns"] == 1 and r["rollout/masked_token_frac"] == 0
               for r in single if r["step"] > 0)


@pytest.mark.ray
@pytest.mark.parametrize("algo", ["grpo", "ppo"])
def test_ray_run_matches_the_local_run(ray_local, tmp_path, stopping_model, algo):
    """The episodes run in the Ray rollout actor (tools would run there too); the sync Ray run
    is the local run, sample for sample, update for update."""
    import ray.cloudpickle

    from rlfb.exec.ray_executor import RayExecutor
    from rlfb.run import learner_factory
    from rlfb.scoring import Scorer

    ray_opts = ["run.executor=ray", "ray.learner.num_cpus=0.5", "ray.rollout.num_cpus=0.5",
                "ray.reward.num_cpus=0.25", "ray.startup_timeout_s=300"]
    local = train(config(tmp_path / "local", stopping_model, f"algo.name={algo}"))
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cfg = config(tmp_path / "ray", stopping_model, f"algo.name={algo}", *ray_opts)
    ex = RayExecutor(engine_factory=partial(again_engine, str(stopping_model)),
                     scorer_factory=partial(Scorer, cfg.reward.name, cfg.reward.options),
                     learner_factory=learner_factory(cfg, str(stopping_model)),
                     ray_cfg=cfg.ray, run_dir=tmp_path / "ray")
    records = train(cfg, ex)
    check_multiturn_run(records, tmp_path / "ray")
    keep = ("rollout/", "reward/", "learner/loss", "learner/grad_norm", "eval/", "ppo/")
    pick = [{k: v for k, v in r.items() if k.startswith(keep) and k != "rollout/tool_seconds"}
            for r in records]
    assert pick == [{k: v for k, v in r.items() if k.startswith(keep)
                     and k != "rollout/tool_seconds"} for r in local]
    assert read_jsonl(tmp_path / "ray" / "samples.jsonl") == read_jsonl(
        tmp_path / "local" / "samples.jsonl")


@pytest.mark.ray
def test_async_ray_run_with_the_configured_environment(ray_local, tmp_path, stopping_model):
    """ray_executor wraps each rollout actor's engine in the episode runner the config names
    (resolved inside the actor), and async mode trains on its one-step-stale episodes."""
    cfg = config(tmp_path / "run", stopping_model, "env.name=single-turn", "env.max_turns=null",
                 "env.max_tokens=200", "run.executor=ray", "ray.mode=async",
                 "buffer.max_staleness=1", "algo.tis_cap=2.0", "ray.learner.num_cpus=0.5",
                 "ray.rollout.num_cpus=0.5", "ray.reward.num_cpus=0.25",
                 "ray.startup_timeout_s=300", "eval.every=0")
    records = train(cfg)
    steps = [r for r in records if r["step"] > 0]
    assert len(steps) == 2 and all(r["rollout/turns"] == 1 for r in steps)
    assert steps[-1]["staleness/1"] > 0
    samples = read_jsonl(tmp_path / "run" / "samples.jsonl")
    assert samples and all(s["episode"]["turns"] == 1 for s in samples)


def test_rlfb_eval_on_an_environment_reports_turns_and_tool_calls(tmp_path, stopping_model,
                                                                   capsys):
    from rlfb.cli import main

    data = tmp_path / "q.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"What is {a} + 1?", "reference": str(a + 1)})
                            + "\n" for a in range(3)))
    out = tmp_path / "eval"
    code = main(["eval", str(stopping_model), "--data", str(data), "--env", "test-again",
                 "--max-turns", "2", "--max-new-tokens", "16", "--n", "2", "--verifier", "math",
                 "--out", str(out)])
    assert code == 0
    summary = json.loads((out / "eval.json").read_text())
    records = read_jsonl(out / "eval_samples.jsonl")
    turns = [r["episode"]["turns"] for r in records]
    assert len(records) == 6 and max(turns) == 2
    assert summary["episodes"]["turns"] == pytest.approx(sum(turns) / 6)
    assert summary["episodes"]["tool_call_rate"] == 0
    assert summary["settings"]["env"]["max_turns"] == 2
    assert "| turns |" in (out / "eval.md").read_text()
    capsys.readouterr()
    for bad, message in ((["eval", "--env", "test-again"], "--env needs a MODEL"),
                         (["eval", "tiny", "--data", str(data), "--verifier", "math",
                           "--max-turns", "2"], "--max-turns needs --env"),
                         (["eval", "tiny"], "name the prompts")):
        assert main(bad) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1
