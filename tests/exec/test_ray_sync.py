"""Weight sync between real role-host actors, with stand-in roles: bytes arrive exact, by version,
through the object store and through a gloo broadcast, and a restarted engine is restored."""

from __future__ import annotations

import sys
import time

import pytest
import torch

pytestmark = pytest.mark.ray


def weights_at(version: int) -> dict[str, torch.Tensor]:
    """The stand-in learner's weights after ``version`` updates (mixed dtypes and shapes)."""
    g = torch.Generator().manual_seed(version)
    return {"embed.weight": torch.randn(11, 6, generator=g),
            "layer.norm": torch.randn(6, generator=g).to(torch.bfloat16),
            "layer.proj": torch.randn(3, 6, generator=g).to(torch.float16),
            "step": torch.tensor([version], dtype=torch.int64)}


class FakeLearner:
    version = 0

    def update(self, batch):
        self.version += 1
        return {"version": self.version}

    def named_weights(self):
        yield from weights_at(self.version).items()


class FakeEngine:
    """Keeps what it was sent; ``generate`` hands it back (for the test to compare)."""

    def __init__(self):
        self.weights, self.weight_version = weights_at(0), 0

    def update_weights(self, named, version):
        self.weights = {n: t.clone() for n, t in named}
        self.weight_version = version

    def generate(self, prompts, sampling):
        return self.weight_version, self.weights

    def close(self):
        pass


def hosts(ray, n_engines: int):
    from rlfb.exec.ray_roles import EngineHost, LearnerHost

    opts = {"num_cpus": 0.1, "max_task_retries": 0}
    learner = ray.remote(concurrency_groups={"control": 1})(LearnerHost).options(
        **opts).remote("learner", FakeLearner, 1)
    engines = [ray.remote(concurrency_groups={"control": 1})(EngineHost).options(
        max_restarts=2, **opts).remote("rollout", FakeEngine, 1) for _ in range(n_engines)]
    return learner, engines


def wait_until_back(ray, actor) -> None:
    """Wait for the restarted incarnation (a call may still reach the old one right after
    ``ray.kill``, which only asks for the kill)."""
    for _ in range(600):
        try:
            if ray.get(actor.stats.remote(), timeout=60)["restarted"]:
                return
        except ray.exceptions.RayActorError:  # dying or restarting
            pass
        time.sleep(0.1)
    raise AssertionError("the actor did not come back")


def assert_engines_hold(pool, version: int) -> None:
    for got_version, got in pool.run("generate", [((), None)] * len(pool.actors)):
        assert got_version == version
        want = weights_at(version)
        assert list(got) == list(want)
        for name, tensor in want.items():
            assert got[name].dtype == tensor.dtype and torch.equal(got[name], tensor), name


@pytest.mark.parametrize("kind", ["object_store", "collective"])
def test_sync_delivers_exact_weights_and_restores_a_restarted_engine(ray_local, kind):
    import ray.cloudpickle

    from rlfb.exec.ray_pool import ActorPool
    from rlfb.exec.ray_roles import WorkerNeedsWeights
    from rlfb.sync.base import make_weight_sync

    ray = ray_local
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    learner, engines = hosts(ray, 2)
    sync = make_weight_sync(kind, "gloo", timeout_s=60)
    pool = ActorPool("rollout", engines, max_retries=2,
                     recover=lambda a: sync.restore(learner, a), timeout_s=120)
    try:
        assert_engines_hold(pool, 0)
        ray.get(learner.update.remote(None))
        out = sync.push(learner, engines, 1, wait=True)
        expected_bytes = sum(t.numel() * t.element_size() for t in weights_at(1).values())
        assert out["sync/bytes"] == expected_bytes and out["sync/seconds"] > 0
        assert_engines_hold(pool, 1)

        ray.kill(engines[0], no_restart=False)  # Ray restarts it with the initial weights
        wait_until_back(ray, engines[0])
        with pytest.raises(WorkerNeedsWeights, match="has not received the current weights"):
            ray.get(engines[0].generate.remote((), None), timeout=120)
        assert_engines_hold(pool, 1)  # the pool restored the current version, then retried
        assert pool.recoveries >= 1 and pool.retries >= 1

        ray.get(learner.update.remote(None))
        sync.push(learner, engines, 2, wait=True)  # collective: the group forms anew
        assert_engines_hold(pool, 2)
    finally:
        for actor in (learner, *engines):
            ray.kill(actor)
