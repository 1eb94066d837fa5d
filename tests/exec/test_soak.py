"""Soak: a 30-step tiny-model Ray run in which the rollout and scorer actors are killed every few
calls and the learner once, then resumed, ends with every prompt trained on exactly once and the
metrics of an undisturbed run (the local executor's, which a fault-free Ray run reproduces:
tests/exec/test_ray_executor.py)."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow]

STEPS, SAVE_EVERY, LEARNER_KILL_STEP = 30, 5, 13
# 30 steps x 4 prompts, 4 samples each; eval at steps 0, 10, 20, 30 (greedy, on 8 prompts)
SOAK = [f"run.steps={STEPS}", f"run.save_every={SAVE_EVERY}", "run.keep_checkpoints=null",
        "eval.every=10", "ray.max_restarts=30"]


class Slow:
    """Wraps a role object; its ``method`` takes ``delay`` seconds longer (room to kill it)."""

    def __init__(self, inner, method: str, delay: float) -> None:
        self.inner, self.method, self.delay = inner, method, delay

    def __getattr__(self, name):
        attr = getattr(self.inner, name)
        if name != self.method:
            return attr

        def slow(*args, **kwargs):
            time.sleep(self.delay)
            return attr(*args, **kwargs)

        slow.__name__ = name
        return slow

    @property
    def weight_version(self):
        return self.inner.weight_version


def make_slow(factory, method: str, delay: float):
    return Slow(factory(), method, delay)


class Killer(threading.Thread):
    """Kills ``actor`` (Ray restarts it) while it runs ``method``, on the ``every``-th call of
    each incarnation (a restart starts counting again), at most ``times`` times."""

    def __init__(self, ray, actor, method: str, every: int, times: int) -> None:
        super().__init__(daemon=True)
        self.ray, self.actor, self.method, self.every, self.times = ray, actor, method, every, times
        self.kills = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while self.kills < self.times and not self.stop.is_set():
            try:
                st = self.ray.get(self.actor.stats.options(concurrency_group="control").remote(),
                                  timeout=30)
            except Exception:  # noqa: BLE001 - restarting, or gone with its executor
                time.sleep(0.05)
                continue
            if st["running"] == self.method and st["calls"] >= self.every - 1:
                self.ray.kill(self.actor, no_restart=False)
                self.kills += 1
                time.sleep(1.0)  # let Ray mark it dead before asking again
            time.sleep(0.01)


def slow_executor(cfg, run: Path):
    """A Ray executor whose generate and score calls are 0.3 s slower (a window to kill)."""
    from functools import partial

    from rlfb.exec.ray_executor import RayExecutor
    from rlfb.rollout import get_engine
    from rlfb.run import learner_factory, resolve_model
    from rlfb.scoring import Scorer

    model = resolve_model(cfg.model.path, run)
    return RayExecutor(
        engine_factory=partial(make_slow, partial(get_engine, "hf", model), "generate", 0.3),
        scorer_factory=partial(make_slow, partial(Scorer, cfg.reward.name, cfg.reward.options),
                               "score", 0.3),
        learner_factory=learner_factory(cfg, model), ray_cfg=cfg.ray, run_dir=run)


def killers(ray, ex) -> list[Killer]:
    """Engine killed every 3rd step or so (a step is a generate and a weight load), scorer on
    every 4th score call; both started."""
    out = [Killer(ray, ex.engines.actors[0], "generate", every=6, times=4),
           Killer(ray, ex.scorers.actors[0], "score", every=4, times=4)]
    for k in out:
        k.start()
    return out


def stop(threads: list[Killer]) -> int:
    for k in threads:
        k.stop.set()
        k.join(timeout=5)
    return sum(k.kills for k in threads)


def test_soak_kills_and_resume_count_every_prompt_once(ray_local, kit, tmp_path):
    import ray.cloudpickle

    from rlfb.errors import RlfbError

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    reference = kit.train(kit.tiny_config(tmp_path / "local", *SOAK))

    run = tmp_path / "run"
    cfg = kit.tiny_config(run, *kit.RAY_SMALL, *SOAK)
    ex = slow_executor(cfg, run)
    first = killers(ray_local, ex)
    # the learner's calls: one update a step and a save every 5 steps; die in step 13's update
    learner = Killer(ray_local, ex.learner, "update", times=1,
                     every=LEARNER_KILL_STEP + (LEARNER_KILL_STEP - 1) // SAVE_EVERY)
    learner.start()
    with pytest.raises(RlfbError, match=r"learner actor died.*resume from .*step-000010"):
        kit.train(cfg, executor=ex)
    kills = stop([*first, learner])
    assert learner.kills == 1 and kills >= 3, kills

    resumed_cfg = kit.tiny_config(run, *kit.RAY_SMALL, *SOAK, f"run.resume={run}")
    ex = slow_executor(resumed_cfg, run)
    second = killers(ray_local, ex)
    records = kit.train(resumed_cfg, executor=ex)
    kills += stop(second)
    last = records[-1]
    print(f"soak: {kills} kills (learner once); restarts rollout {last['ray/rollout/restarts']}, "
          f"reward {last['ray/reward/restarts']}; retries rollout {last['ray/rollout/retries']}, "
          f"reward {last['ray/reward/retries']} (after the resume)")
    assert kills >= 6 and last["ray/rollout/restarts"] >= 1 and last["ray/reward/restarts"] >= 1

    assert [r["step"] for r in records] == list(range(STEPS + 1))
    assert kit.comparable(records) == kit.comparable(reference)
    counts = kit.prompt_counts(run)
    assert len(counts) == STEPS * 4 and set(counts.values()) == {4}  # each prompt once, n = 4
    assert last["buffer/groups_added"] == last["buffer/groups_taken"] == STEPS * 4
