"""Actors that hold a model reuse the large blocks a step frees (`rlfb.memory`): their role
runs on a thread other than the main one, whose own malloc arena would map every block over
64 MiB fresh and page-fault it in again at every step."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.ray

BLOCK_PAGES = 16 * 2**20 * 4 // 4096  # one 64 MiB float32 tensor


def large_block_faults(host) -> tuple[str | None, int]:
    """In the actor, on a method thread: MALLOC_ARENA_MAX, and the page faults of writing five
    64 MiB tensors one after another, after three such passes have grown the heap (see
    tests/test_memory.py)."""
    import os
    import resource

    import torch

    def faults() -> int:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(5):
            block = torch.ones(16 * 2**20)
            del block
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

    for _ in range(3):
        faults()
    return os.environ.get("MALLOC_ARENA_MAX"), faults()


def test_learner_and_engine_actors_reuse_freed_blocks(ray_local, kit, tmp_path):
    import ray

    from rlfb.trainers import make_trainer
    trainer = make_trainer(kit.tiny_config(tmp_path / "run", *kit.RAY_SMALL))
    try:
        ex = trainer.ex
        actors = {"learner": ex.learner, "rollout": ex.engines.actors[0],
                  "reward": ex.scorers.actors[0]}
        seen = {role: ray.get(a.__ray_call__.remote(large_block_faults))
                for role, a in actors.items()}
    finally:
        trainer.close()
    for role in ("learner", "rollout"):
        arena, faults = seen[role]
        assert arena == "1" and faults < BLOCK_PAGES / 2, (role, seen[role])
    # a scorer holds no model: Ray's defaults, each block faulted in again (the contrast)
    assert seen["reward"][0] is None and seen["reward"][1] > 4 * BLOCK_PAGES, seen["reward"]
