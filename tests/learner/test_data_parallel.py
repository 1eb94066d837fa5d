"""Data-parallel policy learners (rlfb.learner.distributed): token-balanced slices, N ranks give
the same update as one process on the same batch (DDP and FSDP2, gloo), and checkpoints resume
across rank counts. The groups are real: two processes spawned with a file:// rendezvous."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
import torch

from rlfb.learner.distributed import _buckets, balanced_slices
from rlfb.learner.objective import LossSettings
from rlfb.learner.policy import PolicyLearner
from rlfb.models.tiny import make_tiny_model
from rlfb.types import ExperienceBatch

LOSS = LossSettings(kl_coef=0.05, entropy_coef=0.01)  # a reference model and every loss term


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(make_tiny_model(tmp_path_factory.mktemp("tiny"), seed=3))


@pytest.fixture(scope="module")
def tiny_tied(tmp_path_factory):
    """Output layer and input embedding share one tensor (as in SmolLM2)."""
    return str(make_tiny_model(tmp_path_factory.mktemp("tied"), seed=3, tie_word_embeddings=True))


# -- the slicing rule, by hand -------------------------------------------------------------------
def test_balanced_slices_by_hand():
    # longest first, each to the lightest part: 5->A, 3->B, 3->B (3<5), 2->A (5<6), 1->B (6<7)
    assert balanced_slices([5, 3, 3, 2, 1], 2) == [[0, 3], [1, 2, 4]]
    # equal loads: the part with fewer rows, then the lower part, takes the next one
    assert balanced_slices([2, 2, 2, 2], 2) == [[0, 2], [1, 3]]
    assert balanced_slices([4, 1, 1, 1, 1], 2) == [[0], [1, 2, 3, 4]]
    assert balanced_slices([7], 3) == [[0], [], []]
    assert balanced_slices([], 2) == [[], []]
    assert balanced_slices([3, 1], 1) == [[0, 1]]
    with pytest.raises(ValueError, match="parts must be >= 1"):
        balanced_slices([1], 0)


def test_gradient_buckets_keep_order_and_size():
    ts = [torch.zeros(n) for n in (3, 4, 10, 2, 2)]
    groups = [[t.numel() for t in b] for b in _buckets(ts, 7)]
    assert groups == [[3, 4], [10], [2, 2]]


# -- a group of two processes --------------------------------------------------------------------
def make_batch(rows: int = 6, seed: int = 0, learning: int | None = None) -> ExperienceBatch:
    """Rows of unequal lengths (the ranks' token counts differ), a masked row, a 4-token prompt;
    with ``learning``, only that many rows keep a non-zero advantage."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(6, 16, (rows,), generator=g)
    width = int(lengths.max())
    attn = (torch.arange(width)[None, :] < lengths[:, None]).long()
    ids = torch.randint(10, 200, (rows, width), generator=g) * attn
    loss_mask = attn.clone()
    loss_mask[:, :4] = 0
    loss_mask[1] = 0
    adv = torch.randn(rows, 1, generator=g).expand(rows, width) * loss_mask
    behaviour = -torch.rand(rows, width, generator=g) * loss_mask
    if learning is not None:
        adv = adv * (torch.arange(rows) == 0)[:, None]  # row 0 learns; row 1 is masked
        assert learning == 1
    return ExperienceBatch(input_ids=ids, attention_mask=attn, loss_mask=loss_mask,
                           old_logprobs=behaviour, advantages=adv.contiguous())


def run_plan(learner, plan):
    """Apply ``plan`` (("update", seed) | ("save", dir) | ("load", dir)); returns the stats."""
    stats = []
    for action, arg in plan:
        if action == "update":
            stats.append(learner.update(make_batch(**arg) if isinstance(arg, dict)
                                        else make_batch(seed=arg)))
        elif action == "save":
            learner.save(Path(arg))
        else:
            learner.load(Path(arg))
    return stats


def new_learner(tiny, loss=LOSS):
    return PolicyLearner(tiny, loss, lr=1e-2, micro_batch_size=2, seed=0)


def _rank_main(rank, world, init, tiny, strategy, plan, out, loss):
    from rlfb.learner.distributed import DataParallelLearner

    torch.set_num_threads(1)
    group = DataParallelLearner.build(lambda: new_learner(tiny, loss), rank=rank,
                                      world_size=world, init_method=init, strategy=strategy,
                                      timeout_s=300)
    try:
        stats = run_plan(group, plan)
        weights = {n: t.clone() for n, t in group.named_weights()}  # every rank gathers
        grads = {n: full_tensor(p.grad) for n, p in group.learner.model.named_parameters()}
        if rank == 0:
            torch.save({"stats": stats, "weights": weights, "grads": grads}, out)
    finally:
        group.close()


def full_tensor(t):
    from torch.distributed.tensor import DTensor

    return (t.full_tensor() if isinstance(t, DTensor) else t).clone()


def run_group(tmp_path, tiny, strategy, plan, world=2, loss=LOSS):
    """Run ``plan`` on a ``world``-rank group; rank 0's stats and the full weights after it."""
    import torch.multiprocessing as mp

    init = f"file://{tmp_path}/rendezvous-{os.urandom(4).hex()}"
    out = tmp_path / f"group-{os.urandom(4).hex()}.pt"
    mp.start_processes(_rank_main, args=(world, init, tiny, strategy, plan, str(out), loss),
                       nprocs=world, start_method="spawn")
    return torch.load(out, weights_only=False)


def single(tiny, plan, loss=LOSS):
    learner = new_learner(tiny, loss)
    stats = run_plan(learner, plan)
    from rlfb.sync.payload import skip_aliases

    return {"stats": stats, "weights": dict(skip_aliases(learner.named_weights())),
            "grads": {n: p.grad.clone() for n, p in learner.model.named_parameters()}}


def assert_same_update(got, want, initial):
    """Equal whole-batch statistics of the last updates to float rounding; equal (clipped) last gradients to 0.1% of
    each tensor's largest element; parameters that moved the same way, to 0.1% of each tensor's
    change. (AdamW divides a near-zero gradient by its own tiny scale, so single elements of the
    update differ by more than rounding; the gradients of the second step inherit that.)"""
    assert got["grads"].keys() == want["grads"].keys()
    for name, g in want["grads"].items():
        torch.testing.assert_close(got["grads"][name], g, rtol=1e-3,
                                   atol=1e-3 * float(g.abs().max()), msg=lambda m, n=name: f"{n}: {m}")
    assert got["weights"].keys() == want["weights"].keys()
    for name, w in want["weights"].items():
        step = float((w - initial[name]).norm())
        assert step > 0, name
        assert float((got["weights"][name] - w).norm()) <= 1e-3 * step, name
    assert got["stats"] and len(got["stats"]) <= len(want["stats"])
    for g, w in zip(got["stats"], want["stats"][-len(got["stats"]):], strict=True):
        for key in ("learner/loss", "learner/grad_norm", "learner/tokens", "learner/entropy",
                    "learner/kl_ref", "learner/clip_frac"):
            if key in w:
                assert g[key] == pytest.approx(w[key], rel=1e-4, abs=1e-7), key
        assert w["learner/grad_norm"] > 1e-3


def initial_weights(tiny):
    return {n: t.clone() for n, t in new_learner(tiny).named_weights()}


@pytest.mark.parametrize("strategy, model", [("ddp", "tiny"), ("fsdp", "tiny"),
                                             ("fsdp", "tiny_tied")])
def test_two_ranks_give_the_update_of_one_process(request, tmp_path, strategy, model):
    """Two updates (AdamW moments carried over), 5 learning rows split 3/2 by tokens in
    micro-batches of 2: under FSDP the lighter rank runs an idle micro-batch to keep in step.
    With tied embeddings the shared tensor is sharded once and synced once."""
    tiny = request.getfixturevalue(model)
    plan = [("update", 0), ("update", 1)]
    want = single(tiny, plan)
    got = run_group(tmp_path, tiny, strategy, plan)
    assert_same_update(got, want, initial_weights(tiny))


def test_a_rank_without_rows_still_steps(tmp_path, tiny):
    """One learning row for two ranks: rank 1 has no row at all and idles in lockstep."""
    loss = dataclasses.replace(LOSS, kl_coef=0.0, entropy_coef=0.0)
    plan = [("update", {"seed": 5, "learning": 1})]
    want = single(tiny, plan, loss)
    assert want["stats"][0]["learner/rows_skipped"] == 5.0
    got = run_group(tmp_path, tiny, "fsdp", plan, loss=loss)
    assert_same_update(got, want, initial_weights(tiny))


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_checkpoints_resume_across_rank_counts(tmp_path, tiny, strategy):
    """Saved by two ranks and resumed by one process, and the reverse: both continue exactly
    as one process that never stopped (same weights, optimiser moments and schedule). One
    group does both: it saves after its first update, then loads one process's checkpoint of
    that point and takes the second update from it."""
    first, second = [("update", 0)], [("update", 1)]
    want = single(tiny, first + second)
    by_one, by_two = tmp_path / "by-one", tmp_path / "by-two"
    single(tiny, first + [("save", str(by_one))])
    resumed_by_two = run_group(tmp_path, tiny, strategy, first + [("save", str(by_two))]
                               + [("load", str(by_one))] + second)
    assert_same_update(resumed_by_two, want, initial_weights(tiny))
    assert resumed_by_two["stats"][-1]["learner/version"] == 2
    if strategy == "fsdp":  # the sharded optimiser state is a DCP folder
        assert (by_two / "optimizer" / ".metadata").is_file()
        assert torch.load(by_two / "optimizer.pt", weights_only=False)["optimizer"] is None
    resumed_by_one = single(tiny, [("load", str(by_two))] + second)
    assert_same_update(resumed_by_one, want, initial_weights(tiny))
