"""Algorithms are registered objects: built-ins through entry points, a plugin package that
trains without touching rlfb, options checked against the class, state saved for resume."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rlfb.algorithms import get_algorithm, list_algorithms, make_algorithm
from rlfb.config import load_config
from rlfb.errors import RlfbError

REPO = Path(__file__).resolve().parent.parent
PLUGIN = REPO / "experiments" / "plugins" / "rlfb-reinforce-baseline"


def test_builtins_say_online_or_offline_and_their_default_estimator():
    assert {"grpo", "rloo", "reinforce_pp", "ppo", "online_dpo", "sft", "dpo"} <= set(
        list_algorithms())
    online = {n: get_algorithm(n).online for n in ("grpo", "ppo", "online_dpo", "sft", "dpo")}
    assert online == {"grpo": True, "ppo": True, "online_dpo": True, "sft": False, "dpo": False}
    assert [get_algorithm(n).advantage for n in ("grpo", "rloo", "reinforce_pp", "ppo")] == [
        "grpo", "rloo", "reinforce_pp", None]
    assert load_config(None, ["algo.name=rloo"]).algo.advantage == "rloo"


def test_an_unknown_algorithm_or_option_fails_at_load_with_the_close_names():
    with pytest.raises(RlfbError, match=r"unknown algorithm 'grpoo'; did you mean 'grpo'"):
        load_config(None, ["algo.name=grpoo"])
    with pytest.raises(RlfbError, match=r"algorithm 'grpo' has no option 'momentum'"):
        load_config(None, ["algo.options={momentum: 0.5}"])


def test_offline_algorithms_are_checked_when_the_config_loads():
    with pytest.raises(RlfbError, match="algo.name=sft trains on data files: set offline.files"):
        load_config(None, ["algo.name=sft"])


def test_algorithm_is_built_on_the_algo_section():
    cfg = load_config(None, ["algo.name=grpo"])
    algorithm = make_algorithm(cfg.algo)
    assert algorithm.settings is cfg.algo and algorithm.name == "grpo"
    assert algorithm.state_dict() == {}


# A tiny run as `rlfb train` would do it, in a fresh process (which reads the entry points).
RUN = """
import json, sys
from rlfb.config import load_config
from rlfb.trainers import make_trainer
from rlfb.run_log import read_jsonl
cfg = load_config(None, json.loads(sys.argv[1]))
trainer = make_trainer(cfg)
try:
    run_dir = trainer.run()
finally:
    trainer.close()
print(json.dumps(read_jsonl(f"{run_dir}/metrics.jsonl")))
"""
DIGIT = {"mode": "regex", "pattern": "[0-9]", "match": "search"}


def tiny_run(out: Path, *overrides: str) -> list[dict]:
    base = [
        f"run.output_dir={out}", "run.steps=4", "run.seed=0", "run.save_every=2",
        "run.progress=false", "run.tracker=none", "model.path=tiny:0",
        "data.source=reasoning_gym", "data.options={task: basic_arithmetic, size: 200, seed: 0}",
        "data.prompts_per_step=4", "data.eval_prompts=0", "eval.every=0",
        "rollout.engine=hf", "rollout.n=2", "rollout.max_new_tokens=8",
        "reward.name=verifier",
        f"reward.options={json.dumps({'verifier': 'format', 'options': DIGIT})}",
        "learner.lr=3e-3", "learner.micro_batch_size=8",
        "algo.name=reinforce_baseline", "algo.options={momentum: 0.5}",
    ]
    done = subprocess.run([sys.executable, "-c", RUN, json.dumps([*base, *overrides])],
                          capture_output=True, text=True, timeout=600, cwd=out.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    return [{k: v for k, v in r.items() if not k.startswith(("time/", "perf/", "learner/update"))}
            for r in json.loads(done.stdout.splitlines()[-1])]


@pytest.fixture(scope="module")
def plugin_installed():
    pip = [sys.executable, "-m", "pip", "-q"]
    subprocess.run([*pip, "install", "--no-deps", "--no-build-isolation", "-e", str(PLUGIN)],
                   check=True, capture_output=True, timeout=300)
    yield
    subprocess.run([*pip, "uninstall", "-y", "rlfb-reinforce-baseline"], check=True,
                   capture_output=True, timeout=300)


def test_plugin_algorithm_trains_and_resumes_exactly(plugin_installed, tmp_path):
    full = tiny_run(tmp_path / "full")
    baselines = [r["reinforce/baseline"] for r in full if "reinforce/baseline" in r]
    rewards = [r["reward/mean"] for r in full if "reward/mean" in r]
    assert len(baselines) == 4 and baselines[0] == 0.0
    # b_{s+1} = 0.5 b_s + 0.5 mean(reward of step s): every sample is judged here (no masking)
    for s in range(3):
        assert baselines[s + 1] == pytest.approx(0.5 * baselines[s] + 0.5 * rewards[s], abs=1e-6)
    assert all("learner/loss" in r for r in full if "reward/mean" in r)
    tiny_run(tmp_path / "part", "run.steps=2")
    resumed = tiny_run(tmp_path / "part", f"run.resume={tmp_path / 'part'}")
    assert resumed == full  # the baseline came back from the checkpoint
