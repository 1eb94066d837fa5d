"""A three-node Ray cluster on one machine (``ray.cluster_utils.Cluster``): roles spread over two
worker nodes, one worker removed mid-call. A lost rollout or scorer actor restarts on the other
worker and the run carries on; a lost learner stops the run with a resumable checkpoint, and
the resumed run finishes on the surviving worker. Either way no prompt is lost or doubled."""

from __future__ import annotations

import threading
import time

import pytest

pytestmark = pytest.mark.ray

FAST_FAILURE = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500,
                "health_check_failure_threshold": 4}


@pytest.fixture
def cluster():
    """A head with no CPUs (the controller and the buffer only) and two 2-CPU workers, each
    big enough for every role; the session's local Ray is put back afterwards."""
    import ray
    from ray.cluster_utils import Cluster

    was_up = ray.is_initialized()
    if was_up:
        ray.shutdown()
    c = Cluster(initialize_head=True,
                head_node_args={"num_cpus": 0, "_system_config": FAST_FAILURE})
    workers = [c.add_node(num_cpus=2) for _ in range(2)]
    c.wait_for_nodes()
    ray.init(address=c.address, log_to_driver=False)
    try:
        yield c, workers
    finally:
        ray.shutdown()
        c.shutdown()
        if was_up:  # the session-scoped ray_local fixture expects its Ray to be up
            ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)


def remove_during(c, node, actor, method: str | None, after_calls: int, done: list) -> None:
    """Remove ``node`` while ``actor`` runs ``method`` (any role call if None)."""
    import ray

    def watch():
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not done:
            st = ray.get(actor.stats.options(concurrency_group="control").remote())
            if st["running"] and st["calls"] >= after_calls and method in (None, st["running"]):
                c.remove_node(node, allow_graceful=False)
                done.append(node.node_id)
            time.sleep(0.005)

    threading.Thread(target=watch, daemon=True).start()


def test_losing_a_worker_node_continues_or_stops_resumably(cluster, kit, tmp_path):
    import ray

    from rlfb.errors import RlfbError
    from rlfb.exec.ray_executor import ray_executor
    from rlfb.run import resolve_model

    c, workers = cluster
    run = tmp_path / "run"
    options = ["run.executor=ray", "ray.placement=spread", "ray.learner.num_cpus=0.5",
               "ray.rollout.count=2", "ray.rollout.num_cpus=0.5", "ray.reward.count=2",
               "ray.reward.num_cpus=0.25", "ray.startup_timeout_s=300", "run.save_every=1",
               "eval.every=0"]
    cfg = kit.tiny_config(run, *options)
    ex = ray_executor(cfg, resolve_model(cfg.model.path, run))
    assert ray.util.placement_group_table(ex.placement.group)["strategy"] == "SPREAD"
    node_of = {("learner", 0): ray.get(ex.learner.stats.remote())["node"]}
    for role, pool in (("rollout", ex.engines), ("reward", ex.scorers)):
        node_of.update({(role, i): s["node"] for i, s in enumerate(pool.stats())})
    worker_ids = {w.node_id for w in workers}
    assert set(node_of.values()) <= worker_ids  # the head has no CPUs: every role on a worker
    # prefer a worker without the learner (the run must carry on); else the learner's
    learner_node = node_of[("learner", 0)]
    others = [k for k, n in node_of.items() if n != learner_node]
    victim_id = node_of[others[0]] if others else learner_node
    victim = next(w for w in workers if w.node_id == victim_id)
    removed: list[str] = []
    if victim_id != learner_node:
        role, index = others[0]
        actor = (ex.engines if role == "rollout" else ex.scorers).actors[index]
        remove_during(c, victim, actor, None, 1, removed)
        records = kit.train(cfg, executor=ex)
        assert sum(records[-1][f"ray/{r}/restarts"] for r in ("rollout", "reward")) >= 1
    else:  # the learner's calls: update 1, save 1, update 2 <- lose its node here
        remove_during(c, victim, ex.learner, "update", 2, removed)
        with pytest.raises(RlfbError, match=r"learner actor died.*resume from .*step-000001"):
            kit.train(cfg, executor=ex)
        records = kit.train(kit.tiny_config(run, *options, f"run.resume={run}"))
    assert removed == [victim_id]
    assert [r["step"] for r in records][-1] == 4
    counts = kit.prompt_counts(run)
    assert len(counts) == 16 and set(counts.values()) == {4}  # 4 steps x 4 prompts, n = 4
    assert records[-1]["buffer/groups_taken"] == 16


def test_rlfb_train_joins_an_existing_cluster_with_ray_address(kit, tmp_path):
    """`rlfb train CONFIG --ray-address ADDR`, as a user runs it: the run uses the cluster's
    workers and leaves the cluster up."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import ray
    from ray.cluster_utils import Cluster

    from rlfb.config import save_config
    from rlfb.run_log import read_jsonl

    was_up = ray.is_initialized()
    if was_up:
        ray.shutdown()
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    c.add_node(num_cpus=2)
    c.wait_for_nodes()
    try:
        run = tmp_path / "run"
        small = [o for o in kit.RAY_SMALL if not o.startswith("run.executor")]
        save_config(kit.tiny_config(run, "run.steps=2", "eval.every=0", *small),
                    tmp_path / "cfg.yaml")
        rlfb = Path(sys.executable).with_name("rlfb")
        proc = subprocess.run([str(rlfb), "train", str(tmp_path / "cfg.yaml"),
                               "--ray-address", c.address], capture_output=True, text=True,
                              timeout=600, env=dict(os.environ, RAY_ADDRESS=""))
        assert proc.returncode == 0, proc.stderr[-2000:]
        steps = [r for r in read_jsonl(run / "metrics.jsonl") if "time/step" in r]
        assert [r["step"] for r in steps] == [1, 2]
        assert any(k.startswith("ray/") for k in steps[-1])  # the roles ran as Ray actors
        ray.init(address=c.address, log_to_driver=False)  # the cluster is still up
        assert sum(n["Alive"] for n in ray.nodes()) == 2
    finally:
        ray.shutdown()
        c.shutdown()
        if was_up:
            ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
