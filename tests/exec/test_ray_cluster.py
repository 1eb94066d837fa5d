"""A three-node Ray cluster on one machine (``ray.cluster_utils.Cluster``): roles spread across
nodes, a worker node removed mid-run, the run carries on and no prompt is lost or doubled."""

from __future__ import annotations

import threading
import time

import pytest

pytestmark = pytest.mark.ray

FAST_FAILURE = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500,
                "health_check_failure_threshold": 4}


@pytest.fixture
def cluster():
    """Head + two worker nodes (2 logical CPUs each); the session's local Ray is put back after."""
    import ray
    from ray.cluster_utils import Cluster

    was_up = ray.is_initialized()
    if was_up:
        ray.shutdown()
    c = Cluster(initialize_head=True,
                head_node_args={"num_cpus": 2, "_system_config": FAST_FAILURE})
    workers = [c.add_node(num_cpus=2) for _ in range(2)]
    c.wait_for_nodes()
    ray.init(address=c.address, log_to_driver=False)
    try:
        yield c, workers
    finally:
        ray.shutdown()
        c.shutdown()
        if was_up:  # the session-scoped ray_local fixture expects a Ray to be up
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)


def node_of(c, workers, node_id: str):
    for w in workers:
        if w.node_id == node_id:
            return w
    return None


@pytest.mark.xfail(reason="known failure under load: spread placement does not always put a "
                   "role on the node the test removes; open in issue 8", strict=False)
def test_spread_roles_survive_the_loss_of_a_worker_node(cluster, kit, tmp_path):
    import ray

    from rlfb.exec.ray_executor import ray_executor
    from rlfb.run import resolve_model

    c, workers = cluster
    run = tmp_path / "run"
    cfg = kit.tiny_config(run, "run.executor=ray", "ray.placement=spread",
                          "ray.learner.num_cpus=0.5", "ray.rollout.count=2",
                          "ray.rollout.num_cpus=0.5", "ray.reward.count=2",
                          "ray.reward.num_cpus=0.25", "ray.startup_timeout_s=300",
                          "run.save_every=0", "eval.every=0")
    ex = ray_executor(cfg, resolve_model(cfg.model.path, run))
    stats = {role: pool.stats() for role, pool in (("rollout", ex.engines),
                                                   ("reward", ex.scorers))}
    learner_node = ray.get(ex.learner.stats.remote())["node"]
    nodes = {s["node"] for st in stats.values() for s in st} | {learner_node}
    assert len(nodes) == 3  # spread: the roles use every node
    # a worker node without the learner (the buffer sits on the head, with the controller)
    victim = next(w for w in workers if w.node_id != learner_node)
    on_victim = [(role, i) for role, st in stats.items() for i, s in enumerate(st)
                 if s["node"] == victim.node_id]
    assert on_victim, stats
    role, index = on_victim[0]
    watched = (ex.engines if role == "rollout" else ex.scorers).actors[index]
    removed: list[str] = []

    def remove_mid_call():  # during that actor's second call (step 2)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not removed:
            st = ray.get(watched.stats.options(concurrency_group="control").remote())
            if st["calls"] >= 1 and st["running"]:
                c.remove_node(victim, allow_graceful=False)
                removed.append(victim.node_id)
            time.sleep(0.005)

    thread = threading.Thread(target=remove_mid_call, daemon=True)
    thread.start()
    records = kit.train(cfg, executor=ex)
    thread.join(timeout=1)
    assert removed == [victim.node_id]
    last = records[-1]
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert sum(last[f"ray/{r}/restarts"] for r in ("rollout", "reward")) >= 1
    counts = kit.prompt_counts(run)
    assert len(counts) == 16 and set(counts.values()) == {4}
    assert last["buffer/groups_added"] == 16 and last["buffer/groups_taken"] == 16
