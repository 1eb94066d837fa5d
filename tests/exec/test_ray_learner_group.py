"""ray.learner.count=2 through the real loop: two learner rank actors in one torch.distributed
group (gloo), under DDP with the object-store sync and under FSDP with the collective sync."""

from __future__ import annotations

import math

import pytest

pytestmark = pytest.mark.ray

SAME_AT_STEP_1 = ("learner/loss", "learner/grad_norm", "learner/tokens", "learner/entropy",
                  "learner/clip_frac", "reward/mean")


@pytest.mark.parametrize("strategy, sync", [("ddp", "object_store"), ("fsdp", "collective")])
def test_two_learner_ranks_train_like_one(ray_local, kit, local_reference, tmp_path, strategy,
                                          sync):
    """Step 1 starts from the same weights and samples, so its update statistics equal the
    one-process run's to float rounding; later steps run on weights equal to rounding (sampling
    may then differ), and every step syncs the whole model to the engine and checkpoints."""
    run = tmp_path / "run"
    records = kit.train(kit.tiny_config(
        run, *kit.RAY_SMALL, "ray.learner.count=2", f"learner.strategy={strategy}",
        f"ray.weight_sync={sync}", "ray.learner.num_cpus=0.5"))
    assert [r["step"] for r in records] == [0, 1, 2, 3, 4]
    assert records[0]["eval/accuracy"] == local_reference[0]["eval/accuracy"]
    for key in SAME_AT_STEP_1:
        assert records[1][key] == pytest.approx(local_reference[1][key], rel=1e-4, abs=1e-6), key
    for r in records[1:]:
        assert math.isfinite(r["learner/loss"]) and r["learner/version"] == r["step"]
        assert r["sync/bytes"] == local_reference[1]["sync/bytes"]
        assert r["ray/learner/busy_s"] > 0
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "step-000002", "step-000004"]
