"""The Ray executor runs the same controller as the local one: same trajectory, and lost work
is redone exactly once when rollout and scorer actors are killed mid-call."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.ray


def test_sync_ray_run_matches_local_run(ray_local, kit, local_reference, tmp_path):
    comparable = kit.comparable
    records = kit.train(kit.tiny_config(tmp_path / "run", *kit.RAY_SMALL))
    assert comparable(records) == comparable(local_reference)
    assert [r["step"] for r in records] == [0, 1, 2, 3, 4]
    # Ray adds only executor figures: role metrics, sync details, the staleness histogram
    extra = set().union(*map(set, comparable(records, drop=()))) \
        - set().union(*map(set, comparable(local_reference, drop=())))
    assert extra and all(k.startswith(kit.EXECUTOR_KEYS) for k in extra), sorted(extra)
    for r in records[1:]:
        assert r["staleness/0"] == 16 and r["staleness/max"] == 0  # synchronous: on-policy
        assert r["sync/bytes"] > 0 and r["ray/rollout/busy_s"] > 0 and r["ray/learner/busy_s"] > 0
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == [
        "step-000002", "step-000004"]


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


def kill_during(ray, actor, method: str, after_calls: int, done: list) -> threading.Thread:
    """Kill ``actor`` (Ray restarts it) while it runs ``method`` after ``after_calls`` calls."""

    def watch():
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                st = ray.get(actor.stats.options(concurrency_group="control").remote(),
                             timeout=30)
            except Exception:  # noqa: BLE001 - restarting; look again
                time.sleep(0.05)
                continue
            if st["running"] == method and st["calls"] >= after_calls:
                ray.kill(actor, no_restart=False)
                done.append(method)
                return
            time.sleep(0.01)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_killed_rollout_and_scorer_actors_redo_their_work_once(ray_local, kit, local_reference,
                                                               tmp_path):
    from functools import partial

    import ray.cloudpickle

    from rlfb.exec.ray_executor import RayExecutor
    from rlfb.rollout import get_engine
    from rlfb.run import learner_factory, resolve_model
    from rlfb.scoring import Scorer

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    cfg = kit.tiny_config(tmp_path / "run", *kit.RAY_SMALL)
    model = resolve_model(cfg.model.path, tmp_path / "run")
    ex = RayExecutor(
        engine_factory=partial(make_slow, partial(get_engine, "hf", model), "generate", 0.4),
        scorer_factory=partial(make_slow, partial(Scorer, cfg.reward.name, cfg.reward.options),
                               "score", 0.4),
        learner_factory=learner_factory(cfg, model), ray_cfg=cfg.ray, run_dir=tmp_path / "run")
    killed: list[str] = []
    # generate: eval (call 1), step 1 (call 2, then a weight load), step 2 is killed
    watchers = [kill_during(ray_local, ex.engines.actors[0], "generate", 3, killed),
                kill_during(ray_local, ex.scorers.actors[0], "score", 4, killed)]
    records = kit.train(cfg, executor=ex)
    for w in watchers:
        w.join(timeout=1)
    assert sorted(killed) == ["generate", "score"]
    last = records[-1]
    assert last["ray/rollout/retries"] >= 1 and last["ray/rollout/restarts"] >= 1
    assert last["ray/reward/retries"] >= 1 and last["ray/reward/restarts"] >= 1
    # the redone work is the same work: the trajectory is the fault-free one
    assert kit.comparable(records) == kit.comparable(local_reference)
    counts = kit.prompt_counts(tmp_path / "run")
    assert len(counts) == 16 and set(counts.values()) == {4}  # 4 steps x 4 prompts, n = 4
    assert last["buffer/groups_added"] == 16 and last["buffer/groups_taken"] == 16


def test_learner_death_stops_with_a_resumable_checkpoint(ray_local, kit, local_reference,
                                                         tmp_path):
    from rlfb.errors import RlfbError
    from rlfb.exec.ray_executor import ray_executor
    from rlfb.run import resolve_model

    run = tmp_path / "run"
    cfg = kit.tiny_config(run, *kit.RAY_SMALL)
    ex = ray_executor(cfg, resolve_model(cfg.model.path, run))
    killed: list[str] = []
    # the learner's calls: update, save (step 2), update (step 3) ...: kill during step 3
    kill_during(ray_local, ex.learner, "update", 3, killed)
    with pytest.raises(RlfbError, match=r"learner actor died.*resume from .*step-000002"):
        kit.train(cfg, executor=ex)
    assert killed == ["update"]
    resumed = kit.train(kit.tiny_config(run, *kit.RAY_SMALL, f"run.resume={run}"))
    assert kit.comparable(resumed) == kit.comparable(local_reference)
