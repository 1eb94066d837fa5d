"""`rlfb ablate` with arms as Ray tasks: every arm in a worker process of its own, output in a
log file per arm, the same run directories and report as the sequential mode."""

from __future__ import annotations

import json

import pytest
import yaml

from rlfb.ablate.runner import DONE_FILE, LOG_FILE, Job, Progress, run_ray
from rlfb.ablate.sweep import arm_config_data, arm_configs, parse_sweep

pytestmark = pytest.mark.ray

TINY = {
    "run": {"steps": 1, "save_every": 0, "samples_every": 0, "progress": False,
            "tracker": "none"},
    "model": {"path": "tiny:0"},
    "data": {"source": "reasoning_gym", "options": {"task": "basic_arithmetic", "size": 20},
             "prompts_per_step": 2, "eval_prompts": 0},
    "rollout": {"engine": "hf", "n": 2, "max_new_tokens": 4},
    "reward": {"name": "verifier", "options": {"verifier": "format",
                                               "options": {"mode": "regex", "pattern": "[0-9]",
                                                           "match": "search"}}},
    "learner": {"micro_batch_size": 4},
    "eval": {"every": 0},
}


def test_arms_run_as_ray_tasks_in_their_own_processes(ray_local, tmp_path, capsys):
    # two good arms (seeds 0, 1) and one whose model folder does not exist
    sweep = parse_sweep({"name": "r", "base": TINY, "seeds": [0, 1],
                         "output_dir": str(tmp_path / "out"),
                         "axes": {"m": {"tiny": {}, "missing": {
                             "model.path": str(tmp_path / "no-model")}}}})
    configs = arm_configs(sweep)
    jobs = [Job(a.name, arm_config_data(sweep, a), sweep.output_dir / a.name,
                configs[a].run.steps) for a in configs if a.name != "m=missing/seed=1"]
    failures = run_ray(jobs, Progress(total=3, parallel=2), max_parallel=2, num_cpus=1,
                       address=None, poll_s=1.0)
    # the failing arm is reported, the others finish
    assert list(failures) == ["m=missing/seed=0"] and "config.json" in failures["m=missing/seed=0"]
    assert not (jobs[2].run_dir / DONE_FILE).exists()
    pids = set()
    for job in jobs[:2]:
        record = json.loads((job.run_dir / DONE_FILE).read_text())
        assert record["step"] == 1 and record["resumed"] is False
        assert (job.run_dir / LOG_FILE).is_file()  # the arm's output went to its log
        assert yaml.safe_load((job.run_dir / "config.yaml").read_text())["run"]["seed"] in (0, 1)
        pids.add(record["pid"])
    assert len(pids) == 2 and not {None} & pids  # a fresh worker per arm
    out = capsys.readouterr().out
    assert out.count("start m=tiny/seed=") == 2 and "[3/3]" in out
    assert "m=missing/seed=0: FAILED: " in out


def test_arms_asking_for_more_gpus_than_ray_has_fail_in_one_line(ray_local, tmp_path):
    import ray

    from rlfb.errors import RlfbError

    gpus = ray.cluster_resources().get("GPU", 0.0)
    job = Job("a", {}, tmp_path / "a", 1)
    with pytest.raises(RlfbError, match=f"num_gpus_per_arm is {gpus + 1:g} but the Ray cluster "
                                        f"has {gpus:g} GPUs"):
        run_ray([job], Progress(total=1, parallel=1), max_parallel=1, num_cpus=1,
                address=None, num_gpus=gpus + 1)
